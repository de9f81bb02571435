package dev.meterd.batch;

import java.time.Instant;
import java.util.Objects;

/**
 * One validated usage record of a batch file.
 *
 * @param idempotencyKey unique within its node, forever
 * @param userSid the wallet to debit
 * @param costCents 0 to {@link BatchParser#MAX_COST_CENTS}, in minor units
 * @param occurredAt when the usage happened
 * @param resource what was used, or null
 * @param quantity how much of it, or null
 * @param line the line of the record's table in its file
 */
public record UsageRecord(
    String idempotencyKey,
    String userSid,
    long costCents,
    Instant occurredAt,
    String resource,
    Long quantity,
    int line) {

  public UsageRecord {
    Objects.requireNonNull(idempotencyKey, "idempotencyKey");
    Objects.requireNonNull(userSid, "userSid");
    Objects.requireNonNull(occurredAt, "occurredAt");
    if (costCents < 0) {
      throw new IllegalArgumentException("costCents must be >= 0, got " + costCents);
    }
  }
}
