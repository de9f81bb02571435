package dev.meterd.ledger;

import java.time.Instant;

/**
 * A budget alert that fired: the wallet's spend in the cycle reached the threshold.
 *
 * @param cycle the UTC month, {@code YYYY-MM}
 * @param spentCents the cycle's spend when it fired
 * @param budgetCents the monthly budget then
 */
public record BudgetAlert(String userSid, int thresholdPct, String cycle, long spentCents, long budgetCents,
    Instant firedAt) {}
