package dev.meterd.ledger;

import java.time.Duration;

/**
 * A hold to place (validated by the caller, checked again here).
 *
 * @param userSid the wallet's user
 * @param amountCents what to reserve, > 0
 * @param node the node that will write the record
 * @param idempotencyKey the record's key: the record consumed with it settles the hold
 * @param ttl how long the hold counts, > 0
 */
public record HoldRequest(String userSid, long amountCents, String node, String idempotencyKey, Duration ttl) {

  public HoldRequest {
    if (amountCents <= 0) {
      throw new IllegalArgumentException("a hold must be > 0 cents, got " + amountCents);
    }
    if (ttl.isNegative() || ttl.isZero()) {
      throw new IllegalArgumentException("a hold's ttl must be > 0, got " + ttl);
    }
  }
}
