package dev.meterd.ledger;

import dev.meterd.policy.WalletSettings;
import java.util.List;
import java.util.function.Function;

/**
 * Writes to wallets other than a node's charges: credits and policy settings, each attributed to
 * who made it, and the budget alerts evaluated on demand.
 */
public interface WalletStore {

  /**
   * Changes a wallet's policy (opening the wallet if needed), recording who changed what from what,
   * in one transaction.
   *
   * @return the wallet as changed
   */
  Wallet updateSettings(String userSid, WalletSettings.Patch patch, String initiatedBy);

  /**
   * Fires the budget alerts due but missing in a cycle, for every enabled wallet with a budget (a
   * budget set or lowered after the spend reached a threshold); one transaction.
   *
   * @param cycle a UTC month, {@code YYYY-MM}
   * @param dryRun when true, returns what would fire and writes nothing
   * @return the alerts fired (or that would fire), by wallet, lowest threshold first
   */
  List<BudgetAlert> fireDueAlerts(String cycle, boolean dryRun);

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
