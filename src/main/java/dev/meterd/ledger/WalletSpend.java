package dev.meterd.ledger;

import java.time.LocalDate;
import java.time.YearMonth;

/**
 * A wallet's usage in one cycle and on one day, by its records' {@code occurred_at} (UTC): what
 * was charged, and what its daily cap waived.
 */
public record WalletSpend(YearMonth cycle, long cycleChargedCents, long cycleWaivedCents, LocalDate day,
    long dayChargedCents, long dayWaivedCents) {}
