package dev.meterd.ledger;

import dev.meterd.policy.Authorization;

/** What a request for a hold came to. Only {@link Placed} wrote anything. */
public sealed interface HoldOutcome {

  /**
   * The hold is placed, now or before.
   *
   * @param availableCents the wallet's available balance with the hold counted
   * @param before true when the same node and key placed it before, with the same user and amount:
   *     nothing was written now
   * @param lowBalance with enforcement off: the hold was placed though enforcement would have
   *     refused it (a hold answered again: its wallet's available balance is below zero)
   */
  record Placed(Hold hold, long availableCents, boolean before, boolean lowBalance) implements HoldOutcome {}

  /** The wallet is refused, as authorize would refuse it for the hold's amount (enforcement on). */
  record Refused(Authorization.Decision decision) implements HoldOutcome {}

  /** The node and key already hold credit for another user or amount: nothing was written. */
  record Conflict(Hold existing) implements HoldOutcome {}

  /**
   * The node and key held credit before, and that hold has ended (expired or released): it holds
   * nothing now, and placing it again under the same key would skip the wallet's check.
   */
  record Ended(Hold existing, String state) implements HoldOutcome {}

  /** The record of the node and key was already consumed, so a hold for it would never settle. */
  record RecordConsumed(String node, String idempotencyKey) implements HoldOutcome {}

  /**
   * The request's Idempotency-Key answered before and its hold still counts: the stored answer, and
   * nothing written.
   */
  record Replayed(Idempotent.Response response) implements HoldOutcome {}

  /** The request's Idempotency-Key came before with another request: nothing written. */
  record KeyReused(String key) implements HoldOutcome {}
}
