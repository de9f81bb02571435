package dev.meterd.ledger;

import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Consumed records decided but not yet written: a node's run collects them, its group writes them
 * all just before COMMIT, in the order of the index ({@code node_id}, {@code idempotency_key}).
 *
 * <p>Implementation notes. Written one by one as they came, inside each node's savepoint, every
 * random key dirtied another page of the index and SQLite copied that page into the savepoint's
 * journal first: the costliest part of a run. Written sorted, outside any savepoint, each page is
 * changed once per group. The INSERT has no {@code ON CONFLICT}: a record of the newest level
 * ({@code consumed_newest}) that the run failed to see aborts the whole group (every node of it
 * halted as transient, nothing charged) rather than being charged twice. A record an older level
 * holds is found by the run's look-up alone ({@link ConsumedSegments}), and a key in two levels
 * fails the merge that meets it, and {@code verify}. {@link String}'s
 * order differs from SQLite's (UTF-8 bytes) only past U+FFFF, which costs locality, nothing more.
 */
final class ConsumedRows {

  record Row(long nodeId, String key, long walletId, long costCents, long occurredAtMs, long txnId, long fileId,
      String resource, Long quantity, long waivedCents, String userSid) {}

  private static final MultiRowSql INSERT = MultiRowSql.insert("INSERT INTO consumed_newest (node_id, "
      + "idempotency_key, wallet_id, cost_cents, occurred_at_ms, txn_id, file_id, resource, quantity, waived_cents) "
      + "VALUES", 10, 50);
  /** Written out rather than composed from key extractors: a group's sort compares about 15 times per record. */
  private static final Comparator<Row> INDEX_ORDER = (a, b) ->
      a.nodeId() != b.nodeId() ? Long.compare(a.nodeId(), b.nodeId()) : a.key().compareTo(b.key());

  /**
   * Rows held at most by a node's run, and by a group between runs, before they are written: about
   * 200 bytes each, so that memory stays bounded (at most twice this) whatever the group's bounds.
   */
  static final int STAGED_AT_MOST = 50_000;

  private final List<Row> rows = new ArrayList<>();

  void add(Row row) {
    rows.add(row);
  }

  void addAll(ConsumedRows other) {
    rows.addAll(other.rows);
  }

  int size() {
    return rows.size();
  }

  void clear() {
    rows.clear();
  }

  /**
   * Writes the rows in the index's order into its newest level, tells {@code index} their keys,
   * and forgets them. Call holding {@code db}, in its transaction.
   */
  void write(SqliteDb db, ConsumedSegments index) throws SQLException {
    rows.sort(INDEX_ORDER);
    index.writing(rows);
    INSERT.writeAll(db, rows, "consumed records", (ps, chunk) -> {
      int p = 0;
      for (Row r : chunk) {
        ps.setLong(++p, r.nodeId());
        ps.setString(++p, r.key());
        ps.setLong(++p, r.walletId());
        ps.setLong(++p, r.costCents());
        ps.setLong(++p, r.occurredAtMs());
        ps.setLong(++p, r.txnId());
        ps.setLong(++p, r.fileId());
        ps.setString(++p, r.resource());
        SqliteDb.setNullableLong(ps, ++p, r.quantity());
        ps.setLong(++p, r.waivedCents());
      }
    });
    rows.clear();
  }
}
