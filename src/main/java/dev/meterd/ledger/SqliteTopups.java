package dev.meterd.ledger;

import dev.meterd.policy.WalletSettings;
import java.sql.PreparedStatement;
import java.sql.SQLException;

/**
 * Auto top-up requests ({@code topup_request}), inside a write transaction the caller holds. At
 * most one request per wallet is open: the partial unique index refuses a second, so a balance
 * that stays below its threshold over many writes is requested once, and again only after a
 * credit lifted it.
 */
final class SqliteTopups {

  private final SqliteDb db;

  SqliteTopups(SqliteDb db) {
    this.db = db;
  }

  /** Opens a request unless one is open; returns whether this call opened it. */
  boolean request(long walletId, String now, WalletSettings settings, long balanceCents) throws SQLException {
    PreparedStatement ps = db.stmt("INSERT INTO topup_request (wallet_id, requested_at, amount_cents, balance_cents, "
        + "threshold_cents) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
    ps.setLong(1, walletId);
    ps.setString(2, now);
    ps.setLong(3, settings.autoTopupAmountCents());
    ps.setLong(4, balanceCents);
    ps.setLong(5, settings.autoTopupThresholdCents());
    return ps.executeUpdate() == 1;
  }

  /** Closes the open request, if any, as lifted by the credit {@code txnId}. */
  void lift(long walletId, String now, long txnId) throws SQLException {
    PreparedStatement ps = db.stmt("UPDATE topup_request SET lifted_at = ?, lifted_by_txn_id = ? "
        + "WHERE wallet_id = ? AND lifted_at IS NULL");
    ps.setString(1, now);
    ps.setLong(2, txnId);
    ps.setLong(3, walletId);
    ps.executeUpdate();
  }
}
