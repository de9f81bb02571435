package dev.meterd.ledger;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Types;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * One connection, to SQLite or PostgreSQL ({@link Engine}), and what every part of the store does with it: cached statements, a read,
 * a write transaction. The parts of one {@link SqliteLedger} share one instance and synchronize on
 * it, so several threads may call it; but a node's run keeps its transaction open between calls,
 * so while one is open other threads' writes are refused (the daemon gives its HTTP handlers a
 * ledger of their own).
 *
 * <p>Implementation notes. A write is one {@code BEGIN IMMEDIATE} transaction run as statements
 * on an autocommit connection ({@link SqliteTransactions}): it returns only once COMMIT has
 * succeeded and throws only if it did not, so a committed write is never reported as failed. A
 * failed statement drops the statement cache (see {@link #failure}).
 */
final class SqliteDb {

  interface SqlWork<T> {
    T run() throws SQLException;
  }

  final Connection conn;
  /** The database's kind: how transactions begin and end, and the SQL the two spell differently. */
  final Engine engine;
  final Clock clock;
  /** The database's name as given, for messages. */
  final String where;
  /** Prepared once, reused: preparing costs more than executing the small statements here. */
  private final Map<String, PreparedStatement> statements = new HashMap<>();
  /** Told when a write rolls back: caches patched inside it no longer hold. */
  private final List<Runnable> rollbackListeners = new ArrayList<>();
  /**
   * The thread whose node's run holds this connection's transaction open between calls, or null.
   * Another thread's write would end that transaction (its BEGIN fails, its ROLLBACK rolls back the
   * node's rows), so it is refused: a thread that writes beside a run needs a ledger of its own.
   */
  private Thread nodeWriter;
  /**
   * Rows a group of node runs has read or written, by key, so that a wallet charged by many nodes
   * of one group is read once: valid only while the group's transaction holds the write lock (no
   * other connection can change them), dropped when it ends and on any rollback, to a savepoint
   * too. Empty outside a group.
   */
  private final Map<Object, Object> groupMemo = new HashMap<>();
  /** Runs right after each successful COMMIT; tests use it to take the write lock at that moment. */
  private Runnable afterCommit = () -> {};
  /** Whether the open transaction wrote ledger rows: then {@link #commit} lists them in {@code wallet_txn}. */
  private boolean wroteTxns;
  /** The open group of node runs, whose consumed records wait for its COMMIT; null outside one. */
  private SqliteNodeGroup group;
  /** This connection's commits, which the engine's commit counter also counts on PostgreSQL: see {@link #dataVersion}. */
  private long ownCommits;

  SqliteDb(Connection conn, Engine engine, Clock clock, String where) {
    this.conn = conn;
    this.engine = engine;
    this.clock = clock;
    this.where = where;
  }

  /** The cached statement for {@code sql}, prepared on first use. Call while holding this. */
  PreparedStatement stmt(String sql) throws SQLException {
    PreparedStatement ps = statements.get(sql);
    if (ps == null) {
      ps = conn.prepareStatement(sql);
      statements.put(sql, ps);
    }
    return ps;
  }

  synchronized <T> T query(String what, SqlWork<T> work) {
    try {
      return work.run();
    } catch (SQLException e) {
      throw failure(what, e);
    }
  }

  /**
   * Runs work in one write transaction; rolls back on any failure. Returns only once COMMIT has
   * succeeded, and throws only if it did not: nothing that can fail runs after it.
   */
  synchronized <T> T write(String what, SqlWork<T> work) {
    // On the run's own thread too: SQLite's BEGIN would fail and its ROLLBACK undo the group, and
    // on PostgreSQL the write would commit the group's open transaction halfway.
    if (nodeWriter != null) {
      throw new IllegalStateException("cannot " + what + ": this connection is inside the run of a node on thread "
          + nodeWriter.getName() + "; open a ledger of its own for writes beside a run");
    }
    T result;
    try {
      engine.beginWrite(conn);
      result = work.run();
      commit();
    } catch (SQLException e) {
      rolledBack(e);
      throw failure(what, e);
    } catch (RuntimeException | Error e) {
      // An Error too (an OutOfMemoryError in an HTTP worker): a transaction left open would keep
      // the write lock, and its uncommitted rows visible to this connection, until the next failure.
      rolledBack(e);
      throw e;
    }
    committed();
    return result;
  }

  /** Ledger rows were written in the open transaction: {@link #commit} lists them under their wallets. */
  void wroteTxns() {
    wroteTxns = true;
  }

  /**
   * Lists the ledger rows past {@code wallet_txn_mark} in {@code wallet_txn}, in (wallet,
   * transaction) order, and moves the mark, then commits: all or nothing. Past the mark are the
   * transaction's own rows and any another writer committed unlisted. Call holding this, inside a
   * write transaction; on a failure, call {@link #rolledBack}.
   */
  void commit() throws SQLException {
    if (wroteTxns) {
      stmt("INSERT INTO wallet_txn (wallet_id, txn_id) SELECT wallet_id, txn_id FROM ledger_txn "
          + "WHERE txn_id > (SELECT listed_to_txn_id FROM wallet_txn_mark) ORDER BY wallet_id, txn_id").executeUpdate();
      stmt("UPDATE wallet_txn_mark SET listed_to_txn_id = (SELECT max(txn_id) FROM ledger_txn)").executeUpdate();
      wroteTxns = false;
    }
    if (engine.countsOwnCommits()) {
      stmt("UPDATE ledger_generation SET generation = generation + 1 WHERE id = 1").executeUpdate();
    }
    engine.commit(conn);
    ownCommits++;
  }

  /** What the open group remembered under {@code key}, or null. Call holding this. */
  @SuppressWarnings("unchecked")
  <T> T remembered(Object key) {
    return nodeWriter == null ? null : (T) groupMemo.get(key);
  }

  /** Remembers a row for the rest of the open group; nothing outside a group. Call holding this. */
  void remember(Object key, Object value) {
    if (nodeWriter != null) {
      groupMemo.put(key, value);
    }
  }

  /** Forgets what the group remembered: a savepoint was rolled back. Call holding this. */
  void forgetRemembered() {
    groupMemo.clear();
  }

  /** Rolls back the open transaction and tells the listeners; {@code cause} keeps a failed rollback. */
  void rolledBack(Throwable cause) {
    groupMemo.clear();
    wroteTxns = false;
    engine.rollback(conn, cause);
    for (Runnable listener : rollbackListeners) {
      listener.run();
    }
  }

  /** Runs the after-commit hook: call right after a successful COMMIT only. */
  void committed() {
    afterCommit.run();
  }

  /** Marks the start ({@code true}) and the end of a node's run on the current thread. Call holding this. */
  void nodeWrite(boolean open) {
    nodeWriter = open ? Thread.currentThread() : null;
    groupMemo.clear();
    if (!open) {
      group = null;
    }
  }

  /** The group of node runs just begun on this connection. Call holding this. */
  void grouping(SqliteNodeGroup group) {
    this.group = group;
  }

  /**
   * Writes the consumed records the open group still holds, so that a read of
   * {@code consumed_record} on this connection finds them. Call holding this, between node runs.
   */
  void writeStagedRecords() {
    if (group != null) {
      group.writeStagedBetweenNodes();
    }
  }

  void onRollback(Runnable listener) {
    rollbackListeners.add(listener);
  }

  /** For tests: what to run right after each successful COMMIT. */
  void afterCommit(Runnable hook) {
    this.afterCommit = hook;
  }

  /**
   * The error of a failed statement, with the statement cache dropped: sqlite-jdbc finalizes a
   * statement whose step failed (a full disk, a read-only file) while it still reports itself
   * open, so reusing it would fail every later write with "statement is not executing", long after
   * the cause is gone.
   */
  LedgerException failure(String what, SQLException e) {
    for (PreparedStatement ps : statements.values()) {
      try {
        ps.close();
      } catch (SQLException suppressed) {
        // Closing a finalized statement has nothing left to release; e is the error to report.
      }
    }
    statements.clear();
    return new LedgerException("cannot " + what + " in the database " + where + ": " + e.getMessage(), e);
  }

  synchronized void close() {
    try {
      for (PreparedStatement ps : statements.values()) {
        ps.close();
      }
      conn.close();
    } catch (SQLException e) {
      throw new LedgerException("cannot close the database " + where + ": " + e.getMessage(), e);
    }
  }

  /**
   * Changes whenever another connection commits to the database; this connection's own commits
   * don't. SQLite's {@code PRAGMA data_version} is exactly that. PostgreSQL has none, so every
   * write transaction adds one to {@code ledger_generation} before its COMMIT, and this
   * connection's own commits are subtracted: the difference moves only when another connection
   * committed (writes are one at a time, so each commit adds exactly one). A generation read
   * inside a write transaction, before its COMMIT, has not been bumped by it yet.
   */
  long dataVersion() throws SQLException {
    try (java.sql.ResultSet rs = stmt(engine.commitCounter()).executeQuery()) {
      rs.next();
      return engine.countsOwnCommits() ? rs.getLong(1) - ownCommits : rs.getLong(1);
    }
  }

  static void setNullableInt(PreparedStatement ps, int index, Integer value) throws SQLException {
    if (value == null) {
      ps.setNull(index, Types.INTEGER);
    } else {
      ps.setInt(index, value);
    }
  }

  static void setNullableLong(PreparedStatement ps, int index, Long value) throws SQLException {
    if (value == null) {
      ps.setNull(index, Types.INTEGER);
    } else {
      ps.setLong(index, value);
    }
  }
}
