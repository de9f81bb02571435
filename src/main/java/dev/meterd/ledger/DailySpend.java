package dev.meterd.ledger;

import java.time.LocalDate;

/**
 * A wallet's usage on one UTC day of its records' {@code occurred_at}, from the day's counter:
 * what was charged, and what its daily cap waived.
 */
public record DailySpend(LocalDate day, long chargedCents, long waivedCents) {}
