package dev.meterd.ledger;

import java.time.Duration;

/**
 * What a money-moving write sent with an idempotency key did: applied now, applied before under
 * another key or none, answered from the first time, or refused because the key came with another
 * request. Only the first moved money.
 */
public sealed interface Idempotent {

  /** How long a key is remembered after its first use; older keys are purged, and then new again. */
  Duration RETENTION = Duration.ofDays(7);

  /**
   * A request's idempotency key and what identifies the request.
   *
   * @param key the client's key
   * @param fingerprint a digest of the request (method, path, canonical body); the same key with
   *     another fingerprint is another request
   * @param initiatedBy who sent it
   */
  record Claim(String key, String fingerprint, String initiatedBy) {}

  /**
   * An answer as it was given, stored under its key with the write it answers.
   *
   * @param status the HTTP status
   * @param body the response's body, exactly
   */
  record Response(int status, String body) {}

  /** The write was applied now; {@code response} is stored under the key. */
  record Applied(Response response) implements Idempotent {}

  /**
   * The key is new, but what it asks for was applied before, under another key or none (a payment
   * id credited before): no money moved; {@code response}, that write's answer, is stored under the
   * key.
   */
  record AppliedBefore(Response response) implements Idempotent {}

  /** The key was used before for this very request: nothing was written; the first answer. */
  record Replayed(Response response) implements Idempotent {}

  /** The key was used before for another request: nothing was written. */
  record KeyReused(String key) implements Idempotent {}
}
