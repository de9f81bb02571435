package dev.meterd.ledger;

import java.time.Instant;

/**
 * One append-only ledger transaction.
 *
 * @param txnId increasing, never reused
 * @param userSid the wallet's user
 * @param type charge, grant, top-up or refund
 * @param amountCents signed: negative for charges
 * @param occurredAt when it was booked
 * @param initiatedBy who initiated it: {@code aggregator}, or an admin's name
 * @param sourceNode for charges: the node whose records it debits, else null
 * @param sourceCommit for charges: the node's newest touching commit in that run, else null
 * @param sourceRecords for charges: how many records it debits, else null
 * @param note free text, or null
 * @param paymentId for top-ups and refunds: the payment's id (see {@link PaymentStore}), else null
 */
public record LedgerTxn(
    long txnId,
    String userSid,
    TxnType type,
    long amountCents,
    Instant occurredAt,
    String initiatedBy,
    String sourceNode,
    String sourceCommit,
    Integer sourceRecords,
    String note,
    String paymentId) {

  /** A transaction that is no payment's. */
  public LedgerTxn(long txnId, String userSid, TxnType type, long amountCents, Instant occurredAt, String initiatedBy,
      String sourceNode, String sourceCommit, Integer sourceRecords, String note) {
    this(txnId, userSid, type, amountCents, occurredAt, initiatedBy, sourceNode, sourceCommit, sourceRecords, note,
        null);
  }

  /** This transaction as made by the payment {@code paymentId}. */
  LedgerTxn withPaymentId(String paymentId) {
    return new LedgerTxn(txnId, userSid, type, amountCents, occurredAt, initiatedBy, sourceNode, sourceCommit,
        sourceRecords, note, paymentId);
  }
}
