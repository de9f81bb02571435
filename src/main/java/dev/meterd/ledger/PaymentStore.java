package dev.meterd.ledger;

import java.util.function.Function;

/**
 * Payments: top-ups and refunds that come from outside with an id their payer chose (an admin's
 * {@code payment_id}, a payment provider's event id). A payment id is credited at most once,
 * ever: the same payment again answers the transaction it made, and the same id with another
 * wallet, type or amount is refused with {@link PaymentConflictException}.
 */
public interface PaymentStore {

  /**
   * A payment as asked for.
   *
   * @param paymentId the payer's id for it, 1 to 200 characters
   * @param userSid the wallet credited
   * @param type {@link TxnType#TOPUP} or {@link TxnType#REFUND}
   * @param amountCents above zero
   * @param initiatedBy who recorded it (a token's name, or the provider)
   * @param note free text, or null
   */
  record Payment(String paymentId, String userSid, TxnType type, long amountCents, String initiatedBy, String note) {

    public Payment {
      if (type != TxnType.TOPUP && type != TxnType.REFUND) {
        throw new IllegalArgumentException("a payment is a top-up or a refund, not a " + type.sqlName());
      }
      if (amountCents <= 0) {
        throw new IllegalArgumentException("a payment must be > 0 cents, got " + amountCents);
      }
    }
  }

  /** What recording a payment did; either way {@code txn()} is the payment's one transaction. */
  sealed interface Outcome {

    LedgerTxn txn();

    /** The payment was credited now. */
    record Credited(LedgerTxn txn) implements Outcome {}

    /** The payment was credited before: nothing was written; its transaction. */
    record AlreadyCredited(LedgerTxn txn) implements Outcome {}
  }

  /**
   * Credits a payment at most once. In one transaction the payment id is claimed (its primary key
   * decides between concurrent requests, in any process) and the wallet credited (opening it if
   * needed).
   *
   * @throws PaymentConflictException the id was used before for another wallet, type or amount;
   *     nothing was written
   */
  Outcome record(Payment payment);

  /**
   * As {@link #record}, under an idempotency key too (see {@link WalletStore#creditOnce}): the
   * key, the payment and {@code respond}'s answer in one transaction. A payment credited before
   * under another key (or none) is {@link Idempotent.AppliedBefore}, answered with its
   * transaction, and that answer stored under this key.
   *
   * @throws PaymentConflictException as {@link #record}; then the key is not kept either
   */
  Idempotent recordOnce(Idempotent.Claim claim, Payment payment, Function<LedgerTxn, Idempotent.Response> respond);
}
