package dev.meterd.ledger;

import java.time.Instant;

/**
 * Consumed usage in one UTC hour of the records' {@code occurred_at}.
 *
 * @param hour the hour's first instant
 */
public record HourlyUsage(Instant hour, long records, long costCents, long waivedCents) {

  /** What the hour's records were charged: their cost less what daily caps waived. */
  public long chargedCents() {
    return costCents - waivedCents;
  }
}
