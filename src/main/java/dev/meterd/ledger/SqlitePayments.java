package dev.meterd.ledger;

import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;

/**
 * Payments in the SQLite store, each one write transaction: the payment id claimed by an insert
 * the primary key refuses for an id stored before (never a check first), then the credit. Of
 * twenty requests with one payment id, in this process or another, exactly one credits; the
 * others read what it recorded.
 */
final class SqlitePayments implements PaymentStore {

  private final SqliteDb db;
  private final SqliteWalletRows rows;

  SqlitePayments(SqliteDb db, SqliteWalletRows rows) {
    this.db = db;
    this.rows = rows;
  }

  @Override
  public Outcome record(Payment payment) {
    return db.write("record payment " + payment.paymentId() + " for the wallet of " + payment.userSid(),
        () -> claimAndCredit(db.clock.instant(), payment));
  }

  /** The idempotency key, the payment and the answer in one transaction; a conflict keeps none. */
  @Override
  public Idempotent recordOnce(Idempotent.Claim claim, Payment payment,
      Function<LedgerTxn, Idempotent.Response> respond) {
    return db.write("record payment " + payment.paymentId() + " for the wallet of " + payment.userSid()
        + " under idempotency key " + claim.key(), () -> {
          Instant now = db.clock.instant();
          Optional<Idempotent> before = SqliteIdempotencyKeys.claim(db.conn(), claim, now);
          if (before.isPresent()) {
            return before.get();
          }
          Outcome outcome = claimAndCredit(now, payment);
          Idempotent.Response response = respond.apply(outcome.txn());
          SqliteIdempotencyKeys.answer(db.conn(), claim.key(), response, outcome.txn().txnId());
          return outcome instanceof Outcome.AlreadyCredited
              ? new Idempotent.AppliedBefore(response)
              : new Idempotent.Applied(response);
        });
  }

  /**
   * Claims the payment id for the transaction about to be written, then writes it; or, when the
   * id was claimed before, answers that payment's transaction. Inside a write transaction.
   *
   * @throws PaymentConflictException the id was claimed by another payment; the caller rolls back
   */
  private Outcome claimAndCredit(Instant now, Payment payment) throws SQLException {
    long walletId = rows.ensureWallet(payment.userSid(), now.toString());
    // The write lock is held: the id allocated here is the one the credit below takes.
    long txnId = rows.nextTxnId();
    PreparedStatement claim = db.stmt("INSERT INTO payment (payment_id, txn_id, wallet_id, type, amount_cents, "
        + "created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (payment_id) DO NOTHING");
    claim.setString(1, payment.paymentId());
    claim.setLong(2, txnId);
    claim.setLong(3, walletId);
    claim.setString(4, payment.type().sqlName());
    claim.setLong(5, payment.amountCents());
    claim.setString(6, now.toString());
    if (claim.executeUpdate() == 1) {
      LedgerTxn txn = rows.credit(now, payment.userSid(), payment.type(), payment.amountCents(), payment.initiatedBy(),
          payment.note());
      if (txn.txnId() != txnId) {
        throw new IllegalStateException("payment " + payment.paymentId() + " claimed transaction " + txnId
            + " but its credit was written as " + txn.txnId());
      }
      return new Outcome.Credited(txn.withPaymentId(payment.paymentId()));
    }
    return recordedBefore(payment);
  }

  private Outcome recordedBefore(Payment asked) throws SQLException {
    PreparedStatement ps = db.stmt("SELECT p.txn_id, w.user_sid, p.type, p.amount_cents FROM payment p "
        + "JOIN wallet w ON w.wallet_id = p.wallet_id WHERE p.payment_id = ?");
    ps.setString(1, asked.paymentId());
    long txnId;
    Payment recorded;
    try (ResultSet rs = ps.executeQuery()) {
      if (!rs.next()) {
        throw new SQLException("payment " + asked.paymentId() + " was refused as recorded before but cannot be read");
      }
      txnId = rs.getLong(1);
      recorded = new Payment(asked.paymentId(), rs.getString(2), TxnType.fromSql(rs.getString(3)), rs.getLong(4),
          null, null);
    }
    if (!recorded.userSid().equals(asked.userSid()) || recorded.type() != asked.type()
        || recorded.amountCents() != asked.amountCents()) {
      throw new PaymentConflictException(asked, recorded, txnId);
    }
    PreparedStatement txn = db.stmt(LedgerSql.TXN_SELECT + "WHERE t.txn_id = ?");
    txn.setLong(1, txnId);
    List<LedgerTxn> found = LedgerSql.txns(txn);
    if (found.size() != 1) {
      throw new SQLException("payment " + asked.paymentId() + " points at transaction " + txnId
          + ", which does not exist; run meterd verify");
    }
    return new Outcome.AlreadyCredited(found.get(0));
  }
}
