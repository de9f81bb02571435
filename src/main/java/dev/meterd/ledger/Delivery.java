package dev.meterd.ledger;

import java.time.Instant;

/**
 * One outbox event and the state of its delivery.
 *
 * @param seq the event's place in delivery order (the admin list's page cursor)
 * @param eventId the stable id, sent as {@code webhook-id} on every attempt
 * @param type the event's wire name, e.g. {@code node.halted}
 * @param createdAt when the write that caused it committed its transaction's clock
 * @param body the JSON posted, the same bytes on every attempt
 * @param status pending, delivered or failed
 * @param attempts attempts started so far
 * @param nextAttemptAt when a pending event is next due; null once delivered or failed
 * @param lastAttemptAt when the last attempt started, or null
 * @param lastError why the last attempt failed, or null
 * @param lastStatusCode the HTTP status the receiver last answered, or null
 * @param deliveredAt when a 2xx answer was recorded, or null
 * @param failedAt when delivery was given up, or null
 * @param retriedBy the admin who last asked for a retry, or null
 * @param retriedAt when, or null
 */
public record Delivery(long seq, String eventId, String type, Instant createdAt, String body, Status status,
    int attempts, Instant nextAttemptAt, Instant lastAttemptAt, String lastError, Integer lastStatusCode,
    Instant deliveredAt, Instant failedAt, String retriedBy, Instant retriedAt) {

  public enum Status {
    PENDING,
    DELIVERED,
    FAILED;

    public String sqlName() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }
}
