package dev.meterd.ledger;

import dev.meterd.policy.WalletSettings;
import io.vertx.core.json.JsonObject;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;

/** Credits and policy settings of wallets in the SQLite store, each one write transaction. */
final class SqliteWalletStore implements WalletStore {

  private final SqliteDb db;
  private final SqliteWalletRows rows;
  private final SqliteWalletCache walletCache;
  private final SqliteSpend spend;

  SqliteWalletStore(SqliteDb db, SqliteWalletRows rows, SqliteWalletCache walletCache, SqliteSpend spend) {
    this.db = db;
    this.rows = rows;
    this.walletCache = walletCache;
    this.spend = spend;
    // A rolled-back settings change may have been read into the cache inside its transaction.
    db.onRollback(walletCache::invalidateAll);
  }

  @Override
  public Wallet updateSettings(String userSid, WalletSettings.Patch patch, String initiatedBy) {
    if (initiatedBy == null || initiatedBy.isBlank()) {
      throw new IllegalArgumentException("a settings change must name who makes it");
    }
    return db.write("change the settings of the wallet of " + userSid, () -> {
      String now = db.clock.instant().toString();
      long walletId = rows.ensureWallet(userSid, now);
      WalletSettings before = rows.walletEntry(userSid).settings();
      WalletSettings after = patch.applyTo(before);
      PreparedStatement ps = db.stmt("UPDATE wallet SET monthly_budget_cents = ?, daily_cap_cents = ?, "
          + "auto_topup_threshold_cents = ?, auto_topup_amount_cents = ?, enabled = ?, updated_at = ? "
          + "WHERE wallet_id = ?");
      ps.setLong(1, after.monthlyBudgetCents());
      ps.setLong(2, after.dailyCapCents());
      ps.setLong(3, after.autoTopupThresholdCents());
      ps.setLong(4, after.autoTopupAmountCents());
      ps.setInt(5, after.enabled() ? 1 : 0);
      ps.setString(6, now);
      ps.setLong(7, walletId);
      ps.executeUpdate();
      PreparedStatement log = db.stmt("INSERT INTO wallet_settings_change (wallet_id, changed_at, initiated_by, "
          + "old_settings, new_settings) VALUES (?, ?, ?, ?, ?)");
      log.setLong(1, walletId);
      log.setString(2, now);
      log.setString(3, initiatedBy);
      log.setString(4, json(before));
      log.setString(5, json(after));
      log.executeUpdate();
      walletCache.invalidate(userSid);
      return wallet(userSid);
    });
  }

  /** The settings as the change log keeps them, in the wallet JSON's names. */
  static String json(WalletSettings s) {
    return "{\"monthly_budget_cents\":" + s.monthlyBudgetCents() + ",\"daily_cap_cents\":" + s.dailyCapCents()
        + ",\"auto_topup_threshold_cents\":" + s.autoTopupThresholdCents() + ",\"auto_topup_amount_cents\":"
        + s.autoTopupAmountCents() + ",\"enabled\":" + s.enabled() + "}";
  }

  /** The settings of a change log's JSON, as {@link #json} wrote them. */
  static WalletSettings settings(String json) {
    JsonObject o = new JsonObject(json);
    return new WalletSettings(o.getLong("monthly_budget_cents"), o.getLong("daily_cap_cents"),
        o.getLong("auto_topup_threshold_cents"), o.getLong("auto_topup_amount_cents"), o.getBoolean("enabled"));
  }

  private Wallet wallet(String userSid) throws SQLException {
    PreparedStatement ps = db.stmt("SELECT " + LedgerSql.WALLET_COLUMNS + " FROM wallet WHERE user_sid = ?");
    ps.setString(1, userSid);
    try (ResultSet rs = ps.executeQuery()) {
      rs.next();
      return LedgerSql.wallet(rs);
    }
  }

  private record Budgeted(long walletId, String userSid, WalletSettings settings) {}

  @Override
  public List<BudgetAlert> fireDueAlerts(String cycle, boolean dryRun) {
    SqliteDb.SqlWork<List<BudgetAlert>> work = () -> {
      Instant now = db.clock.instant();
      long asOfTxnId = rows.nextTxnId() - 1;
      List<BudgetAlert> fired = new ArrayList<>();
      PreparedStatement ps = db.stmt("SELECT wallet_id, user_sid, " + LedgerSql.SETTINGS_COLUMNS
          + " FROM wallet WHERE enabled = 1 AND monthly_budget_cents > 0 ORDER BY "
          + db.engine.inByteOrder("user_sid"));
      List<Budgeted> wallets = new ArrayList<>();
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          wallets.add(new Budgeted(rs.getLong(1), rs.getString(2), LedgerSql.settings(rs, 3)));
        }
      }
      for (Budgeted w : wallets) {
        fired.addAll(spend.fireDue(w.walletId(), w.userSid(), w.settings(), cycle, asOfTxnId, now, dryRun));
      }
      return fired;
    };
    String what = "evaluate the budget alerts of " + cycle;
    return dryRun ? db.query(what, work) : db.write(what, work);
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
      Optional<Idempotent> before = SqliteIdempotencyKeys.claim(db.conn(), claim, now);
      if (before.isPresent()) {
        return before.get();
      }
      LedgerTxn txn = rows.credit(now, userSid, type, amountCents, claim.initiatedBy(), note);
      Idempotent.Response response = respond.apply(txn);
      SqliteIdempotencyKeys.answer(db.conn(), claim.key(), response, txn.txnId());
      return new Idempotent.Applied(response);
    });
  }
}
