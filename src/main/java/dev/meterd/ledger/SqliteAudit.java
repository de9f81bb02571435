package dev.meterd.ledger;

import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/** What {@code verify} and its replay read of the SQLite store. */
final class SqliteAudit implements LedgerAudit {

  private final SqliteDb db;

  SqliteAudit(SqliteDb db) {
    this.db = db;
  }

  @Override
  public void forEachConsumed(String node, Consumer<Consumed> action) {
    db.query("read the consumed records of " + node, () -> {
      db.writeStagedRecords();
      PreparedStatement ps = db.stmt("SELECT c.idempotency_key, w.user_sid, c.cost_cents FROM consumed_record c "
          + "JOIN wallet w ON w.wallet_id = c.wallet_id JOIN node n ON n.node_id = c.node_id "
          + "WHERE n.name = ? ORDER BY " + db.engine.inByteOrder("c.idempotency_key"));
      ps.setString(1, node);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          action.accept(new Consumed(rs.getString(1), rs.getString(2), rs.getLong(3)));
        }
      }
      return null;
    });
  }

  @Override
  public Map<String, Set<String>> chargeCommits() {
    return db.query("read the charges' commits", () -> {
      Map<Long, Set<String>> byId = new HashMap<>();
      try (ResultSet rs = db.stmt("SELECT source_node_id, source_commit FROM ledger_txn "
          + "WHERE source_node_id IS NOT NULL").executeQuery()) {
        while (rs.next()) {
          byId.computeIfAbsent(rs.getLong(1), id -> new HashSet<>()).add(rs.getString(2));
        }
      }
      Map<String, Set<String>> result = new HashMap<>();
      try (ResultSet rs = db.stmt("SELECT node_id, name FROM node").executeQuery()) {
        while (rs.next()) {
          Set<String> commits = byId.get(rs.getLong(1));
          if (commits != null) {
            result.put(rs.getString(2), commits);
          }
        }
      }
      return result;
    });
  }

  /**
   * One deferred read transaction around the reads: under WAL it keeps the snapshot of its first
   * read while writers go on, and takes no write lock (see {@link SqliteTransactions}). A
   * checkpoint cannot pass a snapshot still read, so the WAL grows until it ends.
   */
  @Override
  public <T, E extends Exception> T readSnapshot(SnapshotReads<T, E> reads) throws E {
    synchronized (db) {
      db.query("start a read transaction", () -> {
        db.beginRead();
        return null;
      });
      try {
        // The snapshot is taken by the first read: take it now, so that it is the ledger as of this call.
        db.query("start a read transaction", () -> {
          try (Statement st = db.conn().createStatement(); ResultSet rs = st.executeQuery("SELECT 1 FROM run_mark")) {
            return rs.next();
          }
        });
        return reads.run();
      } finally {
        // A read transaction has nothing to keep: ending it cannot lose anything.
        db.endRead();
      }
    }
  }

  @Override
  public List<Violation> verify() {
    // One snapshot: the checks are many statements, and a daemon may seal or merge the consumed-
    // record index between two of them.
    return db.query("verify the ledger", () -> {
      db.beginRead();
      try {
        return new LedgerVerifier(db.conn(), db.engine).run();
      } finally {
        db.endRead();
      }
    });
  }
}
