package dev.meterd.ledger;

import dev.meterd.policy.Authorization;
import java.util.Collection;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;

/**
 * Holds on wallets' credit, and the credit that authorize decides on. Reads are answered from a
 * cache that is never stale: each call first asks the database whether any other connection
 * (another process, or this process's other connections) has committed since the last call, and
 * forgets everything if one has.
 */
public interface HoldStore {

  /**
   * The credit of several wallets, each as of a moment after this call began: one freshness check
   * for all of them. A user without a wallet has {@link Authorization.Credit#NONE}, with its holds.
   */
  Map<String, Authorization.Credit> credits(Collection<String> userSids);

  /** The credit of one wallet; see {@link #credits}. */
  default Authorization.Credit credit(String userSid) {
    return credits(java.util.List.of(userSid)).get(userSid);
  }

  /**
   * Places a hold: the decision (authorize's, for the hold's amount) and the insert are one write
   * transaction, so concurrent holds, in any process, can never take the available balance below
   * zero while {@code enforce} is on. The same node and key again answer the hold placed before.
   *
   * @param initiatedBy the name of the token placing it
   * @param claim the request's Idempotency-Key, or null; claimed, and answered with
   *     {@code respond}'s response, in the same transaction, only when the hold is placed (a
   *     refusal moves nothing, so a retry after a top-up is decided afresh); a key answered before
   *     is answered that answer again only while its hold counts, and as without the key once the
   *     hold has ended
   * @throws BalanceOutOfRangeException the wallet's holds would come to more than a long holds
   */
  HoldOutcome place(HoldRequest request, boolean enforce, String initiatedBy, Idempotent.Claim claim,
      Function<HoldOutcome.Placed, Idempotent.Response> respond);

  /**
   * What a release came to.
   *
   * @param hold the hold as it is now
   * @param releasedNow true when this call released it; false when it had ended before (released or
   *     settled), and stays as it was
   * @param availableCents the wallet's available credit as the release left it, read in its
   *     transaction
   */
  record Released(Hold hold, boolean releasedNow, long availableCents) {}

  /**
   * Releases an active hold (expired or not); a hold released before stays as it was, as does a
   * settled one (its state says so).
   *
   * @return the hold as it is now, with its wallet's available credit read in the same
   *     transaction (so a committed release is never answered with an error); empty when there is
   *     no such hold
   */
  Optional<Released> release(long holdId, String releasedBy);

  /** A hold as stored; empty when there is no such hold. */
  Optional<Hold> hold(long holdId);

  /**
   * A wallet's active holds at the ledger's clock: placed, and neither settled, released nor
   * expired (those that lower its available balance now), the newest {@code limit} of them, with
   * their count and total read in the same statement. Read from the database, not the cache: the
   * pages ask for it, not authorize.
   */
  ActiveHolds active(String userSid, int limit);
}
