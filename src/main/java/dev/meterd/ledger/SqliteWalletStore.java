package dev.meterd.ledger;

import java.time.Instant;
import java.util.Optional;
import java.util.function.Function;

/** Credits to wallets in the SQLite store, each one write transaction. */
final class SqliteWalletStore implements WalletStore {

  private final SqliteDb db;
  private final SqliteWalletRows rows;

  SqliteWalletStore(SqliteDb db, SqliteWalletRows rows) {
    this.db = db;
    this.rows = rows;
  }

  @Override
  public LedgerTxn credit(String userSid, TxnType type, long amountCents, String initiatedBy, String note) {
    SqliteWalletRows.checkCredit(type, amountCents);
    return db.write("credit the wallet of " + userSid,
        () -> rows.credit(db.clock.instant(), userSid, type, amountCents, initiatedBy, note));
  }

  /** The key, the credit and its answer in one transaction. */
  @Override
  public Idempotent creditOnce(Idempotent.Claim claim, String userSid, TxnType type, long amountCents, String note,
      Function<LedgerTxn, Idempotent.Response> respond) {
    SqliteWalletRows.checkCredit(type, amountCents);
    return db.write("credit the wallet of " + userSid + " under idempotency key " + claim.key(), () -> {
      Instant now = db.clock.instant();
      Optional<Idempotent> before = SqliteIdempotencyKeys.claim(db.conn, claim, now);
      if (before.isPresent()) {
        return before.get();
      }
      LedgerTxn txn = rows.credit(now, userSid, type, amountCents, claim.initiatedBy(), note);
      Idempotent.Response response = respond.apply(txn);
      SqliteIdempotencyKeys.answer(db.conn, claim.key(), response, txn.txnId());
      return new Idempotent.Applied(response);
    });
  }
}
