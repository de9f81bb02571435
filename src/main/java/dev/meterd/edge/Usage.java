package dev.meterd.edge;

import java.time.Instant;

/**
 * One unit of work to bill, as an edge application hands it to {@link UsageWriter}.
 *
 * @param userSid the wallet to debit
 * @param costCents what the work cost, in minor units
 * @param occurredAt when it happened; it picks the hour file
 * @param key the idempotency key, or null for a new time-ordered one
 * @param resource what was used ({@code llm.tokens}), or null
 * @param quantity how much of it, or null
 */
public record Usage(String userSid, long costCents, Instant occurredAt, String key, String resource, Long quantity) {

  public Usage {
    java.util.Objects.requireNonNull(occurredAt, "occurredAt");
  }

  /** Usage with no key, resource or quantity. */
  public static Usage of(String userSid, long costCents, Instant occurredAt) {
    return new Usage(userSid, costCents, occurredAt, null, null, null);
  }
}
