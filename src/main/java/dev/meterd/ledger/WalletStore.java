package dev.meterd.ledger;

import java.util.function.Function;

/** Writes to wallets other than a node's charges: credits, each attributed to who made it. */
public interface WalletStore {

  /** Credits a wallet (opening it if needed), attributed to {@code initiatedBy}. */
  LedgerTxn credit(String userSid, TxnType type, long amountCents, String initiatedBy, String note);

  /**
   * Credits a wallet at most once per idempotency key. In one transaction the key is claimed (its
   * primary key decides between concurrent requests, in any process), the wallet credited, and
   * {@code respond}'s answer stored under the key; a failure anywhere keeps neither. A key stored
   * before credits nothing: it answers {@link Idempotent.Replayed} with the stored answer, or
   * {@link Idempotent.KeyReused} when it came with another request. Keys are kept for
   * {@link Idempotent#RETENTION}.
   *
   * @param respond the answer to store, from the transaction written
   */
  Idempotent creditOnce(Idempotent.Claim claim, String userSid, TxnType type, long amountCents, String note,
      Function<LedgerTxn, Idempotent.Response> respond);
}
