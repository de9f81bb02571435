package dev.meterd.ledger;

/**
 * A payment id was credited before as another payment (another wallet, type or amount): nothing
 * of the new request was applied, and retrying it fails the same way, since payments are kept
 * for good.
 */
public final class PaymentConflictException extends RuntimeException {

  /**
   * @param asked the payment refused
   * @param recorded the payment recorded before under the same id
   * @param txnId the transaction {@code recorded} made
   */
  public PaymentConflictException(PaymentStore.Payment asked, PaymentStore.Payment recorded, long txnId) {
    super("payment_id \"" + asked.paymentId() + "\" was recorded before as a " + describe(recorded)
        + " (transaction " + txnId + "), so this " + describe(asked)
        + " was not applied; send a new payment_id for a new payment", null, false, false);
  }

  private static String describe(PaymentStore.Payment p) {
    return p.type().sqlName() + " of " + p.amountCents() + " cents to wallet " + p.userSid();
  }
}
