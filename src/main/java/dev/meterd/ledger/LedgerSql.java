package dev.meterd.ledger;

import dev.meterd.policy.WalletSettings;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** The SQL text and row mappings more than one part of the store uses, in one place. */
final class LedgerSql {

  private LedgerSql() {}

  static final String NODE_COLUMNS = "name, status, last_commit_sha, tree_id, last_run_at, "
      + "records_consumed_total, error_kind, error_file, error_line, error_message, halted_since, "
      + "halted_tree_id, warning";

  /** A wallet's policy, in the order {@link #settings} reads them. */
  static final String SETTINGS_COLUMNS = "monthly_budget_cents, daily_cap_cents, auto_topup_threshold_cents, "
      + "auto_topup_amount_cents, enabled";

  static final String WALLET_COLUMNS = "user_sid, balance_cents, created_at, updated_at, "
      + SETTINGS_COLUMNS;

  /** A record's UTC day, {@code YYYY-MM-DD}: see {@link Engine#dayOf}. */
  static String dayOfRecord(Engine engine) {
    return engine.dayOf("occurred_at_ms");
  }

  /** A record's UTC hour as epoch milliseconds, floored as {@link Engine#dayOf} floors days. */
  static final String HOUR_OF_RECORD = "(occurred_at_ms - ((occurred_at_ms % 3600000) + 3600000) % 3600000)";

  static final String TXN_SELECT = "SELECT t.txn_id, w.user_sid, t.type, t.amount_cents, "
      + "t.occurred_at, t.initiated_by, n.name, t.source_commit, t.source_records, t.note, p.payment_id "
      + "FROM ledger_txn t JOIN wallet w ON w.wallet_id = t.wallet_id "
      + "LEFT JOIN node n ON n.node_id = t.source_node_id LEFT JOIN payment p ON p.txn_id = t.txn_id ";

  static NodeState nodeState(ResultSet rs) throws SQLException {
    String kind = rs.getString("error_kind");
    NodeError error = kind == null ? null : new NodeError(
        errorKind(kind),
        rs.getString("error_file"),
        nullableInt(rs, rs.findColumn("error_line")),
        rs.getString("error_message"));
    return new NodeState(
        rs.getString("name"),
        "halted".equals(rs.getString("status")) ? NodeState.Status.HALTED : NodeState.Status.OK,
        rs.getString("last_commit_sha"),
        rs.getString("tree_id"),
        instant(rs.getString("last_run_at")),
        rs.getLong("records_consumed_total"),
        error,
        instant(rs.getString("halted_since")),
        rs.getString("halted_tree_id"),
        rs.getString("warning"));
  }

  static NodeError.Kind errorKind(String sqlName) {
    return NodeError.Kind.valueOf(sqlName.toUpperCase(Locale.ROOT));
  }

  static String sqlName(NodeError.Kind kind) {
    return kind.name().toLowerCase(Locale.ROOT);
  }

  /** A wallet from a row of {@link #WALLET_COLUMNS}. */
  static Wallet wallet(ResultSet rs) throws SQLException {
    return new Wallet(rs.getString(1), rs.getLong(2), instant(rs.getString(3)), instant(rs.getString(4)),
        settings(rs, 5));
  }

  /** A wallet's policy from the {@link #SETTINGS_COLUMNS} starting at column {@code first}. */
  static WalletSettings settings(ResultSet rs, int first) throws SQLException {
    return new WalletSettings(rs.getLong(first), rs.getLong(first + 1), rs.getLong(first + 2), rs.getLong(first + 3),
        rs.getInt(first + 4) == 1);
  }

  /** The transactions a statement of {@link #TXN_SELECT} finds. */
  static List<LedgerTxn> txns(PreparedStatement ps) throws SQLException {
    List<LedgerTxn> result = new ArrayList<>();
    try (ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        result.add(new LedgerTxn(rs.getLong(1), rs.getString(2), TxnType.fromSql(rs.getString(3)),
            rs.getLong(4), instant(rs.getString(5)), rs.getString(6), rs.getString(7), rs.getString(8),
            nullableInt(rs, 9), rs.getString(10), rs.getString(11)));
      }
    }
    return result;
  }

  /**
   * An integer column that may be NULL. Not {@code (Integer) getObject}: PostgreSQL's BIGINT
   * columns come back as a Long, SQLite's small integers as an Integer.
   */
  static Integer nullableInt(ResultSet rs, int column) throws SQLException {
    long value = rs.getLong(column);
    if (rs.wasNull()) {
      return null;
    }
    if (value < Integer.MIN_VALUE || value > Integer.MAX_VALUE) {
      // getInt would keep the low 32 bits on SQLite: a tampered row must not read as another number.
      throw new SQLException("column " + rs.getMetaData().getColumnName(column) + " holds " + value
          + ", out of the range of a 32-bit integer");
    }
    return (int) value;
  }

  static Instant instant(String text) {
    return text == null ? null : Instant.parse(text);
  }
}
