package dev.meterd.ledger;

import java.util.List;

/**
 * Payments kept without crediting any wallet (see {@link UnappliedPayment}), once per provider
 * event id, and listed for an admin to handle. Nothing here moves money.
 */
public interface UnappliedPayments {

  /** What keeping a payment did; either way {@code payment()} is the one kept for its event id. */
  sealed interface Outcome {

    UnappliedPayment payment();

    /** Kept now. */
    record Kept(UnappliedPayment payment) implements Outcome {}

    /** Its event was kept before (a redelivery): nothing was written; the payment kept then. */
    record KeptBefore(UnappliedPayment payment) implements Outcome {}
  }

  /**
   * Keeps a payment at most once per event id, in one transaction: the event id's unique
   * constraint decides between concurrent deliveries, in any process. Credits nothing.
   */
  Outcome keep(UnappliedPayment payment);

  /** The newest {@code limit} payments kept, newest first. */
  List<UnappliedPayment> newestFirst(int limit);

  /** How many payments are kept. */
  long count();
}
