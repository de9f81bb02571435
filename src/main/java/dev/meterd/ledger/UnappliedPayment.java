package dev.meterd.ledger;

import java.time.Instant;

/**
 * A payment the provider received (the money is with it) that meterd keeps but does not credit:
 * its amount is not a number of the ledger's cents. An admin handles it by hand.
 *
 * @param eventId the provider's event id, the payment's dedup key: 1 to 200 characters
 * @param paymentIntentId the provider's id of the payment (Stripe's PaymentIntent), or null
 * @param userSid the wallet its metadata named
 * @param amount as the provider gave it, above zero: in the smallest unit of {@code currency}
 *     as the provider counts it, not the ledger's cents
 * @param currency the payment's ISO 4217 code, upper case
 * @param reason one sentence: why it was not credited
 * @param receivedAt when it was first received
 */
public record UnappliedPayment(String eventId, String paymentIntentId, String userSid, long amount, String currency,
    String reason, Instant receivedAt) {

  public UnappliedPayment {
    if (amount <= 0) {
      throw new IllegalArgumentException("an unapplied payment's amount must be > 0, got " + amount);
    }
  }
}
