package dev.meterd.ledger;

import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Instant;
import java.time.LocalDate;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/** The read side of the SQLite store, for the API, the pages and the commands. */
final class SqliteReads implements LedgerReads {

  private final SqliteDb db;
  private final SqliteNodeStore nodes;

  SqliteReads(SqliteDb db, SqliteNodeStore nodes) {
    this.db = db;
    this.nodes = nodes;
  }

  @Override
  public Map<String, NodeState> nodes() {
    return db.query("read the node states", () -> {
      Map<String, NodeState> result = new LinkedHashMap<>();
      try (Statement st = db.conn().createStatement();
          ResultSet rs = st.executeQuery("SELECT " + LedgerSql.NODE_COLUMNS + " FROM node ORDER BY "
              + db.engine.inByteOrder("name"))) {
        while (rs.next()) {
          NodeState state = LedgerSql.nodeState(rs);
          result.put(state.node(), state);
        }
      }
      return result;
    });
  }

  @Override
  public Optional<NodeState> node(String name) {
    return db.query("read the node state of " + name, () -> nodes.nodeByName(name));
  }

  @Override
  public Optional<Wallet> wallet(String userSid) {
    return db.query("read the wallet of " + userSid, () -> {
      PreparedStatement ps = db.stmt("SELECT " + LedgerSql.WALLET_COLUMNS + " FROM wallet WHERE user_sid = ?");
      ps.setString(1, userSid);
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next() ? Optional.of(LedgerSql.wallet(rs)) : Optional.empty();
      }
    });
  }

  @Override
  public List<Wallet> wallets() {
    return db.query("list the wallets", () -> {
      List<Wallet> result = new ArrayList<>();
      try (Statement st = db.conn().createStatement();
          ResultSet rs = st.executeQuery("SELECT " + LedgerSql.WALLET_COLUMNS + " FROM wallet ORDER BY "
              + db.engine.inByteOrder("user_sid"))) {
        while (rs.next()) {
          result.add(LedgerSql.wallet(rs));
        }
      }
      return result;
    });
  }

  @Override
  public List<LedgerTxn> transactions(String userSid, int limit) {
    return db.query("read the transactions of " + userSid, () -> {
      // wallet_txn lists the wallet's rows in order: the newest are read from its end.
      PreparedStatement ps = db.stmt(LedgerSql.TXN_SELECT + "WHERE t.txn_id IN (SELECT x.txn_id FROM wallet_txn x "
          + "JOIN wallet xw ON xw.wallet_id = x.wallet_id WHERE xw.user_sid = ? ORDER BY x.txn_id DESC LIMIT ?) "
          + "ORDER BY t.txn_id DESC");
      ps.setString(1, userSid);
      ps.setInt(2, limit);
      return LedgerSql.txns(ps);
    });
  }

  @Override
  public List<LedgerTxn> transactionPage(Set<TxnType> types, Long beforeTxnId, int limit) {
    if (types.isEmpty()) {
      return List.of();
    }
    StringBuilder in = new StringBuilder();
    for (TxnType t : types) {
      in.append(in.length() == 0 ? "'" : ",'").append(t.sqlName()).append('\'');
    }
    return db.query("page through the ledger", () -> {
      PreparedStatement ps = db.stmt(LedgerSql.TXN_SELECT + "WHERE t.type IN (" + in + ") AND t.txn_id < ? "
          + "ORDER BY t.txn_id DESC LIMIT ?");
      ps.setLong(1, beforeTxnId == null ? Long.MAX_VALUE : beforeTxnId);
      ps.setInt(2, limit);
      return LedgerSql.txns(ps);
    });
  }

  @Override
  public List<UsageBucket> usage(Bucket bucket, LocalDate from, LocalDate to) {
    String day = LedgerSql.dayOfRecord(db.engine);
    String start = switch (bucket) {
      case DAY -> day;
      case WEEK -> db.engine.mondayOf(day);
      case MONTH -> db.engine.firstOfMonth(day);
    };
    return db.query("sum the usage by " + bucket.name().toLowerCase(Locale.ROOT), () -> {
      db.writeStagedRecords();
      PreparedStatement ps = db.stmt("SELECT " + start + " AS b, count(*), sum(cost_cents), sum(waived_cents) "
          + "FROM consumed_record "
          + "WHERE occurred_at_ms >= ? AND occurred_at_ms < ? GROUP BY b ORDER BY b");
      ps.setLong(1, from == null ? Long.MIN_VALUE : from.atStartOfDay(ZoneOffset.UTC).toInstant().toEpochMilli());
      ps.setLong(2, to == null ? Long.MAX_VALUE : to.atStartOfDay(ZoneOffset.UTC).toInstant().toEpochMilli());
      List<UsageBucket> result = new ArrayList<>();
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          result.add(new UsageBucket(LocalDate.parse(rs.getString(1)), rs.getLong(2), rs.getLong(3), rs.getLong(4)));
        }
      }
      return result;
    });
  }

  @Override
  public List<HourlyUsage> usageByHour(Instant from, Instant to) {
    return db.query("sum the usage by hour", () -> {
      db.writeStagedRecords();
      PreparedStatement ps = db.stmt("SELECT " + LedgerSql.HOUR_OF_RECORD + " AS h, count(*), sum(cost_cents), "
          + "sum(waived_cents) FROM consumed_record WHERE occurred_at_ms >= ? AND occurred_at_ms < ? "
          + "GROUP BY h ORDER BY h");
      ps.setLong(1, from.toEpochMilli());
      ps.setLong(2, to.toEpochMilli());
      List<HourlyUsage> result = new ArrayList<>();
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          result.add(new HourlyUsage(Instant.ofEpochMilli(rs.getLong(1)), rs.getLong(2), rs.getLong(3), rs.getLong(4)));
        }
      }
      return result;
    });
  }

  @Override
  public List<DailySpend> dailySpend(String userSid, LocalDate from, LocalDate to) {
    return db.query("read the daily spend of " + userSid, () -> {
      PreparedStatement ps = db.stmt("SELECT s.day, s.charged_cents, s.waived_cents FROM daily_spend s "
          + "JOIN wallet w ON w.wallet_id = s.wallet_id WHERE w.user_sid = ? AND s.day >= ? AND s.day < ? "
          + "ORDER BY s.day");
      ps.setString(1, userSid);
      ps.setString(2, from.toString());
      ps.setString(3, to.toString());
      List<DailySpend> result = new ArrayList<>();
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          result.add(new DailySpend(LocalDate.parse(rs.getString(1)), rs.getLong(2), rs.getLong(3)));
        }
      }
      return result;
    });
  }

  @Override
  public List<SettingsChange> settingsChanges(String userSid, int limit) {
    return db.query("read the settings changes of " + userSid, () -> {
      PreparedStatement ps = db.stmt("SELECT c.changed_at, c.initiated_by, c.old_settings, c.new_settings "
          + "FROM wallet_settings_change c JOIN wallet w ON w.wallet_id = c.wallet_id WHERE w.user_sid = ? "
          + "ORDER BY c.change_id DESC LIMIT ?");
      ps.setString(1, userSid);
      ps.setInt(2, limit);
      List<SettingsChange> result = new ArrayList<>();
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          result.add(new SettingsChange(Instant.parse(rs.getString(1)), rs.getString(2),
              SqliteWalletStore.settings(rs.getString(3)), SqliteWalletStore.settings(rs.getString(4))));
        }
      }
      return result;
    });
  }

  @Override
  public WalletSpend spend(String userSid, YearMonth cycle, LocalDate day) {
    return db.query("read the spend of " + userSid, () -> {
      PreparedStatement ps = db.stmt("SELECT coalesce(sum(s.charged_cents), 0), coalesce(sum(s.waived_cents), 0), "
          + "coalesce(sum(CASE WHEN s.day = ? THEN s.charged_cents END), 0), "
          + "coalesce(sum(CASE WHEN s.day = ? THEN s.waived_cents END), 0) "
          + "FROM daily_spend s JOIN wallet w ON w.wallet_id = s.wallet_id "
          + "WHERE w.user_sid = ? AND s.day >= ? AND s.day < ?");
      ps.setString(1, day.toString());
      ps.setString(2, day.toString());
      ps.setString(3, userSid);
      ps.setString(4, cycle.atDay(1).toString());
      ps.setString(5, cycle.plusMonths(1).atDay(1).toString());
      long cycleCharged;
      long cycleWaived;
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        cycleCharged = rs.getLong(1);
        cycleWaived = rs.getLong(2);
        if (YearMonth.from(day).equals(cycle)) {
          return new WalletSpend(cycle, cycleCharged, cycleWaived, day, rs.getLong(3), rs.getLong(4));
        }
      }
      PreparedStatement today = db.stmt("SELECT s.charged_cents, s.waived_cents FROM daily_spend s "
          + "JOIN wallet w ON w.wallet_id = s.wallet_id WHERE w.user_sid = ? AND s.day = ?");
      today.setString(1, userSid);
      today.setString(2, day.toString());
      try (ResultSet rs = today.executeQuery()) {
        return rs.next() ? new WalletSpend(cycle, cycleCharged, cycleWaived, day, rs.getLong(1), rs.getLong(2))
            : new WalletSpend(cycle, cycleCharged, cycleWaived, day, 0, 0);
      }
    });
  }

  @Override
  public List<BudgetAlert> alerts(YearMonth cycle, String userSid, int limit) {
    return db.query("read the budget alerts", () -> {
      PreparedStatement ps = db.stmt("SELECT w.user_sid, a.threshold_pct, a.cycle, a.spent_cents, a.budget_cents, "
          + "a.fired_at FROM budget_alert a JOIN wallet w ON w.wallet_id = a.wallet_id "
          + "WHERE (? IS NULL OR a.cycle = ?) AND (? IS NULL OR w.user_sid = ?) "
          + "ORDER BY " + db.engine.inByteOrder("a.fired_at") + " DESC, a.as_of_txn_id DESC, a.threshold_pct DESC LIMIT ?");
      String cycleText = cycle == null ? null : cycle.toString();
      ps.setString(1, cycleText);
      ps.setString(2, cycleText);
      ps.setString(3, userSid);
      ps.setString(4, userSid);
      ps.setInt(5, limit);
      List<BudgetAlert> result = new ArrayList<>();
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          result.add(new BudgetAlert(rs.getString(1), rs.getInt(2), rs.getString(3), rs.getLong(4), rs.getLong(5),
              Instant.parse(rs.getString(6))));
        }
      }
      return result;
    });
  }

  @Override
  public List<TopupDue> topupsDue() {
    return db.query("list the wallets due a top-up", () -> {
      // An open request shows what it asked for; a wallet with none yet, what its settings would ask.
      PreparedStatement ps = db.stmt("SELECT w.user_sid, w.balance_cents, "
          + "coalesce(r.threshold_cents, w.auto_topup_threshold_cents), "
          + "coalesce(r.amount_cents, w.auto_topup_amount_cents), r.requested_at FROM wallet w LEFT JOIN topup_request r "
          + "ON r.wallet_id = w.wallet_id AND r.lifted_at IS NULL WHERE w.auto_topup_threshold_cents > 0 "
          + "AND w.auto_topup_amount_cents > 0 AND w.balance_cents < w.auto_topup_threshold_cents ORDER BY "
          + db.engine.inByteOrder("w.user_sid"));
      List<TopupDue> result = new ArrayList<>();
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          result.add(new TopupDue(rs.getString(1), rs.getLong(2), rs.getLong(3), rs.getLong(4),
              LedgerSql.instant(rs.getString(5))));
        }
      }
      return result;
    });
  }

  @Override
  public Instant newestOccurredAt() {
    return db.query("find the newest consumed record", () -> {
      db.writeStagedRecords();
      try (ResultSet rs = db.stmt("SELECT max(occurred_at_ms) FROM consumed_record").executeQuery()) {
        rs.next();
        long ms = rs.getLong(1);
        return rs.wasNull() ? null : Instant.ofEpochMilli(ms);
      }
    });
  }
}
