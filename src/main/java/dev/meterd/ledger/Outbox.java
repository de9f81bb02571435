package dev.meterd.ledger;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * The delivery side of the webhook outbox: the worker claims due events and records each
 * attempt's outcome, the admin API lists deliveries and retries one. Events are written by the
 * store's own writes, in the transaction that causes them, never through this interface. Every
 * method is one short read or write; none waits on the network.
 */
public interface Outbox {

  /**
   * Claims up to {@code limit} pending events that are due, oldest first, for one attempt each:
   * the attempt is counted, and the event is not due again until {@code lease} has passed, so an
   * attempt cut short by a crash is made again after a restart. An idle poll only reads.
   */
  List<Delivery> claimDue(int limit, Duration lease);

  /** Records a 2xx answer: the event is delivered and never sent again. */
  void markDelivered(String eventId, int statusCode);

  /**
   * Records a failed attempt of a pending event, due again at {@code nextAttemptAt}.
   *
   * @param statusCode the receiver's HTTP status, or null when it did not answer
   */
  void markRetry(String eventId, String error, Integer statusCode, Instant nextAttemptAt);

  /** Records a failed attempt after which delivery is given up: the event is failed. */
  void markFailed(String eventId, String error, Integer statusCode);

  /**
   * Deliveries, newest first.
   *
   * @param status only those in this state, or null for all
   * @param beforeSeq only events written before the one with this {@link Delivery#seq} (the page
   *     cursor), or null for the newest
   */
  List<Delivery> deliveries(Delivery.Status status, Long beforeSeq, int limit);

  Optional<Delivery> delivery(String eventId);

  /**
   * Makes a pending or failed event due now, recording who asked; a delivered one is left as it
   * is. Returns the delivery as it is afterwards; empty when there is no such event.
   */
  Optional<Delivery> retryNow(String eventId, String by);
}
