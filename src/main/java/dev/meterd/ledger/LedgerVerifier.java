package dev.meterd.ledger;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

/** The ledger's invariants, each checked by one query over the whole store. */
final class LedgerVerifier {

  /** Violations listed per rule at most; the message of the last says how many more there were. */
  static final int MAX_PER_RULE = 50;

  private final Connection conn;
  private final Engine engine;
  private final List<Violation> violations = new ArrayList<>();

  LedgerVerifier(Connection conn, Engine engine) {
    this.conn = conn;
    this.engine = engine;
  }

  List<Violation> run() throws SQLException {
    check("wallet_balance",
        "SELECT w.user_sid, w.balance_cents, coalesce(s.total, 0) FROM wallet w "
            + "LEFT JOIN (SELECT wallet_id, sum(amount_cents) AS total FROM ledger_txn GROUP BY wallet_id) s "
            + "ON s.wallet_id = w.wallet_id WHERE w.balance_cents <> coalesce(s.total, 0)",
        rs -> "wallet " + rs.getString(1) + " has balance " + rs.getLong(2)
            + " but its transactions sum to " + rs.getLong(3));
    check("record_charge",
        "SELECT n.name, c.idempotency_key, c.txn_id, t.type FROM consumed_record c "
            + "JOIN node n ON n.node_id = c.node_id LEFT JOIN ledger_txn t ON t.txn_id = c.txn_id "
            + "WHERE t.txn_id IS NULL OR t.type <> 'charge' OR t.wallet_id <> c.wallet_id "
            + "OR t.source_node_id <> c.node_id",
        rs -> "record " + rs.getString(2) + " of node " + rs.getString(1) + " points at transaction "
            + rs.getLong(3) + (rs.getString(4) == null ? ", which does not exist"
                : ", which is not a charge of the same wallet and node"));
    check("charge_amount",
        "SELECT t.txn_id, t.amount_cents, t.source_records, coalesce(s.total, 0), coalesce(s.n, 0) "
            + "FROM ledger_txn t LEFT JOIN (SELECT txn_id, sum(cost_cents - waived_cents) AS total, count(*) AS n "
            + "FROM consumed_record GROUP BY txn_id) s ON s.txn_id = t.txn_id WHERE t.type = 'charge' "
            + "AND (t.amount_cents <> -coalesce(s.total, 0) OR t.source_records <> coalesce(s.n, 0))",
        rs -> "charge " + rs.getLong(1) + " of " + rs.getLong(2) + " cents for " + rs.getLong(3)
            + " records, but its records were charged " + rs.getLong(4) + " cents in " + rs.getLong(5) + " records");
    check("daily_spend",
        "SELECT w.user_sid, coalesce(d.day, r.day), coalesce(d.charged_cents, 0), coalesce(d.waived_cents, 0), "
            + "coalesce(r.charged, 0), coalesce(r.waived, 0) FROM (SELECT wallet_id, " + LedgerSql.dayOfRecord(engine) + " AS day, "
            + "sum(cost_cents - waived_cents) AS charged, sum(waived_cents) AS waived FROM consumed_record "
            + "GROUP BY wallet_id, day) r FULL OUTER JOIN daily_spend d ON d.wallet_id = r.wallet_id AND d.day = r.day "
            + "JOIN wallet w ON w.wallet_id = coalesce(d.wallet_id, r.wallet_id) "
            + "WHERE coalesce(d.charged_cents, 0) <> coalesce(r.charged, 0) "
            + "OR coalesce(d.waived_cents, 0) <> coalesce(r.waived, 0) ORDER BY " + engine.inByteOrder("w.user_sid")
            + ", 2",
        rs -> "wallet " + rs.getString(1) + " counts " + rs.getLong(3) + " cents charged and " + rs.getLong(4)
            + " waived on " + rs.getString(2) + ", but its records of that day were charged " + rs.getLong(5)
            + " and waived " + rs.getLong(6));
    check("alert_snapshot",
        "SELECT * FROM (SELECT w.user_sid, a.cycle, a.threshold_pct, a.spent_cents, a.budget_cents, (SELECT "
            + "coalesce(sum(c.cost_cents - c.waived_cents), 0) FROM consumed_record c WHERE c.wallet_id = a.wallet_id "
            + "AND c.txn_id <= a.as_of_txn_id AND substr(" + engine.dayOf("c.occurred_at_ms")
            + ", 1, 7) = a.cycle) AS charged FROM budget_alert a JOIN wallet w ON w.wallet_id = a.wallet_id) x "
            + "WHERE spent_cents <> charged OR spent_cents * 100 < budget_cents * threshold_pct",
        rs -> "the " + rs.getInt(3) + " % alert of wallet " + rs.getString(1) + " for " + rs.getString(2)
            + " says " + rs.getLong(4) + " cents spent of a budget of " + rs.getLong(5) + ", but its records of the "
            + "cycle charged up to it come to " + rs.getLong(6));
    // A payment points at one transaction and no two at the same one (UNIQUE txn_id): it remains
    // to prove that the transaction is the payment as it was asked for.
    check("payment_txn",
        "SELECT p.payment_id, p.type, p.amount_cents, pw.user_sid, p.txn_id, t.type, t.amount_cents, tw.user_sid "
            + "FROM payment p JOIN wallet pw ON pw.wallet_id = p.wallet_id "
            + "LEFT JOIN ledger_txn t ON t.txn_id = p.txn_id LEFT JOIN wallet tw ON tw.wallet_id = t.wallet_id "
            + "WHERE t.txn_id IS NULL OR t.wallet_id <> p.wallet_id OR t.type <> p.type "
            + "OR t.amount_cents <> p.amount_cents ORDER BY " + engine.inByteOrder("p.payment_id"),
        rs -> "payment " + rs.getString(1) + " (a " + rs.getString(2) + " of " + rs.getLong(3) + " cents to wallet "
            + rs.getString(4) + ") points at transaction " + rs.getLong(5) + (rs.getString(6) == null
                ? ", which does not exist"
                : ", which is a " + rs.getString(6) + " of " + rs.getLong(7) + " cents to wallet " + rs.getString(8)));
    // Counted in one pass, grouped: a count per node over the index's levels read every level once per node.
    check("node_total",
        "SELECT n.name, n.records_consumed_total, coalesce(c.n, 0) FROM node n LEFT JOIN (SELECT node_id, count(*) AS n "
            + "FROM consumed_record GROUP BY node_id) c ON c.node_id = n.node_id "
            + "WHERE n.records_consumed_total <> coalesce(c.n, 0)",
        rs -> "node " + rs.getString(1) + " counts " + rs.getLong(2) + " consumed records, but the index holds "
            + rs.getLong(3));
    // wallet_txn is how a wallet's transactions are found: it lists every ledger row once, under
    // the row's own wallet (its primary key forbids a row twice under one wallet).
    check("wallet_txn",
        "SELECT t.txn_id, 'of wallet ' || w.user_sid || ' is not listed under it' FROM ledger_txn t "
            + "JOIN wallet w ON w.wallet_id = t.wallet_id WHERE NOT EXISTS (SELECT 1 FROM wallet_txn x "
            + "WHERE x.wallet_id = t.wallet_id AND x.txn_id = t.txn_id) "
            + "UNION ALL SELECT x.txn_id, 'is listed under wallet ' || coalesce(lw.user_sid, 'id ' || x.wallet_id) "
            + "|| CASE WHEN t.txn_id IS NULL THEN ' but does not exist' "
            + "ELSE ' but belongs to wallet ' || coalesce(tw.user_sid, 'id ' || t.wallet_id) END "
            + "FROM wallet_txn x LEFT JOIN wallet lw ON lw.wallet_id = x.wallet_id LEFT JOIN ledger_txn t "
            + "ON t.txn_id = x.txn_id LEFT JOIN wallet tw ON tw.wallet_id = t.wallet_id "
            + "WHERE t.txn_id IS NULL OR t.wallet_id <> x.wallet_id ORDER BY 1",
        rs -> "transaction " + rs.getLong(1) + " " + rs.getString(2));
    checkHolds();
    checkHashChain();
    if (engine == Engine.SQLITE) {
      checkSegments();
    }
    return violations;
  }

  /** The record of a hold: a consumed record of the hold's node with its key, of the hold's user. */
  private static final String HOLD_RECORD = "EXISTS (SELECT 1 FROM consumed_record c JOIN node n "
      + "ON n.node_id = c.node_id JOIN wallet w ON w.wallet_id = c.wallet_id WHERE n.name = h.node "
      + "AND c.idempotency_key = h.idempotency_key AND w.user_sid = h.user_sid)";

  /**
   * No settled hold is still counted, nor a hold counted whose record was consumed: a settled hold
   * points at a consumed record, and an active one at none (settlement is in the record's own
   * transaction, and a hold is never placed for a record already consumed).
   */
  private void checkHolds() throws SQLException {
    check("hold_settled",
        "SELECT h.hold_id, h.node, h.idempotency_key FROM hold h WHERE h.state = 'settled' AND NOT " + HOLD_RECORD,
        rs -> "hold " + rs.getLong(1) + " is settled, but node " + rs.getString(2) + " has no consumed record "
            + rs.getString(3) + " of the hold's user");
    check("hold_unsettled",
        "SELECT h.hold_id, h.node, h.idempotency_key FROM hold h WHERE h.state = 'active' AND " + HOLD_RECORD,
        rs -> "hold " + rs.getLong(1) + " still counts, but its record " + rs.getString(3) + " of node "
            + rs.getString(2) + " was consumed");
  }

  /**
   * The consumed-record index in levels ({@link ConsumedSegments}) holds each record once: no key
   * twice across its levels (within one, its primary key sees to it), every segment's filter holds
   * the segment's keys (a filter missing one would let that record be consumed again), and
   * {@code consumed_record} reads every level.
   */
  private void checkSegments() throws SQLException {
    long segmentRows = 0;
    List<long[]> segments = new ArrayList<>();
    try (Statement st = conn.createStatement();
        ResultSet rs = st.executeQuery(ConsumedSegments.LIVE)) {
      while (rs.next()) {
        segments.add(new long[] {rs.getLong(1), rs.getLong(3)});
        segmentRows += rs.getLong(3);
      }
    }
    // A merge in progress: its segment is not read yet, and holds what its progress says.
    try (Statement st = conn.createStatement();
        ResultSet rs = st.executeQuery("SELECT segment_id, rows_done FROM consumed_merge ORDER BY segment_id")) {
      while (rs.next()) {
        long held = count("SELECT count(*) FROM " + ConsumedSegments.Segment.table(rs.getLong(1)));
        if (held != rs.getLong(2)) {
          violations.add(new Violation("merge_progress", "the merge into segment " + rs.getLong(1)
              + " of the consumed-record index has written " + held + " records, but says " + rs.getLong(2)));
        }
      }
    }
    if (segments.isEmpty()) {
      return;
    }
    for (long[] segment : segments) {
      checkSegment(segment[0], segment[1]);
    }
    long level0 = count("SELECT count(*) FROM consumed_newest");
    long all = count("SELECT count(*) FROM consumed_record");
    if (all != level0 + segmentRows) {
      violations.add(new Violation("consumed_levels", "consumed_record reads " + all + " records, but the newest level holds "
          + level0 + " and the segments " + segmentRows));
    }
    int found = 0;
    // Each level is read in key order and merged: no sort of the whole index.
    try (Statement st = conn.createStatement();
        ResultSet rs = st.executeQuery("SELECT c.node_id, c.idempotency_key, n.name FROM consumed_record c "
            + "JOIN node n ON n.node_id = c.node_id ORDER BY c.node_id, c.idempotency_key")) {
      long lastNode = -1;
      String lastKey = null;
      while (rs.next()) {
        long node = rs.getLong(1);
        String key = rs.getString(2);
        if (node == lastNode && key.equals(lastKey) && found++ < MAX_PER_RULE) {
          violations.add(new Violation("record_once", "record " + key + " of node " + rs.getString(3)
              + " is held more than once in the consumed-record index"));
        }
        lastNode = node;
        lastKey = key;
      }
    }
    if (found > MAX_PER_RULE) {
      violations.add(new Violation("record_once", (found - MAX_PER_RULE) + " more violations of record_once not listed"));
    }
  }

  private void checkSegment(long id, long rows) throws SQLException {
    String table = ConsumedSegments.Segment.table(id);
    if (count("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '" + table + "'") == 0) {
      violations.add(new Violation("segment_rows", "segment " + id + " of the consumed-record index has no table " + table));
      return;
    }
    KeyFilter filter;
    try (Statement st = conn.createStatement();
        ResultSet rs = st.executeQuery("SELECT filter_hashes, filter FROM consumed_segment WHERE segment_id = " + id)) {
      rs.next();
      filter = KeyFilter.fromBytes(rs.getBytes(2), rs.getInt(1));
    } catch (IllegalArgumentException e) {
      violations.add(new Violation("segment_filter", "segment " + id + " of the consumed-record index: " + e.getMessage()));
      return;
    }
    long held = 0;
    long missed = 0;
    try (Statement st = conn.createStatement();
        ResultSet rs = st.executeQuery("SELECT node_id, idempotency_key FROM " + table)) {
      while (rs.next()) {
        held++;
        if (!filter.mayContain(rs.getLong(1), rs.getString(2))) {
          missed++;
        }
      }
    }
    if (held != rows) {
      violations.add(new Violation("segment_rows", "segment " + id + " of the consumed-record index holds " + held
          + " records, but consumed_segment says " + rows));
    }
    if (missed > 0) {
      violations.add(new Violation("segment_filter", "the filter of segment " + id + " of the consumed-record index "
          + "misses " + missed + " of its keys: those records could be consumed again"));
    }
  }

  private long count(String sql) throws SQLException {
    try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery(sql)) {
      rs.next();
      return rs.getLong(1);
    }
  }

  private interface Row {
    String describe(ResultSet rs) throws SQLException;
  }

  private void check(String rule, String sql, Row row) throws SQLException {
    int found = 0;
    try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery(sql)) {
      while (rs.next()) {
        if (found++ < MAX_PER_RULE) {
          violations.add(new Violation(rule, row.describe(rs)));
        }
      }
    }
    if (found > MAX_PER_RULE) {
      violations.add(new Violation(rule, (found - MAX_PER_RULE) + " more violations of " + rule + " not listed"));
    }
  }

  private void checkHashChain() throws SQLException {
    String previous = TxnHash.GENESIS;
    long expectedId = -1;
    try (Statement st = conn.createStatement();
        ResultSet rs = st.executeQuery("SELECT txn_id, wallet_id, type, amount_cents, occurred_at, initiated_by, "
            + "source_node_id, source_commit, source_records, note, row_hash FROM ledger_txn ORDER BY txn_id")) {
      while (rs.next()) {
        long sourceNode = rs.getLong(7);
        Long sourceNodeId = rs.wasNull() ? null : sourceNode;
        SqliteWalletRows.Txn txn = new SqliteWalletRows.Txn(rs.getLong(1), rs.getLong(2), TxnType.fromSql(rs.getString(3)),
            rs.getLong(4), rs.getString(5), rs.getString(6), sourceNodeId, rs.getString(8),
            LedgerSql.nullableInt(rs, 9), rs.getString(10));
        String expected = TxnHash.of(previous, txn);
        if (!expected.equals(rs.getString(11))) {
          violations.add(new Violation("hash_chain", "transaction " + txn.txnId()
              + " does not match its hash: it, or a row before it, was changed after it was written"));
          return;
        }
        if (expectedId >= 0 && txn.txnId() != expectedId) {
          violations.add(new Violation("hash_chain", "transactions " + expectedId + " to " + (txn.txnId() - 1)
              + " are missing"));
          return;
        }
        expectedId = txn.txnId() + 1;
        previous = expected;
      }
    }
  }
}
