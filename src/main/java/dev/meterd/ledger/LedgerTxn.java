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
    String note) {}
