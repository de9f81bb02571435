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
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

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
 *
 * <p>A connection to PostgreSQL can be lost (a restart, the network): a failure that says so marks
 * it lost, and the next transaction, or read outside one, takes a new connection from the pool
 * ({@link Connections}), never a statement inside a transaction, which must fail with its
 * transaction rather than go on, half of it on another connection. The caches of the store's
 * parts are dropped then, as after a rollback: what the lost transaction did is unknown until
 * read again (a COMMIT cut off may have committed or not).
 */
final class SqliteDb {

  private static final Logger log = LoggerFactory.getLogger(SqliteDb.class);

  /**
   * A connection idle longer than this is tested before a transaction: one the server closed
   * meanwhile (a restart) is replaced then, not found lost by the transaction's first statement.
   * HikariCP tests a connection idle for 500 ms before lending it, for the same reason. Measured
   * by the ledger's clock, so that a test decides when a connection is idle.
   */
  private static final long IDLE_TEST_MS = 1_000;
  private static final int VALIDATION_TIMEOUT_SECONDS = 5;

  interface SqlWork<T> {
    T run() throws SQLException;
  }

  /** Where a connection comes from, and whether a lost one is replaced from there. */
  interface Connections {
    Connection connect() throws SQLException;

    /** Whether a connection can be lost and replaced: a PostgreSQL pool's can, a SQLite file's is never lost. */
    default boolean replacesLost() {
      return false;
    }

    /** Closes a lost connection, for good. */
    default void discard(Connection lost) {
      SqliteLedger.closeQuietly(lost);
    }

    /** Gives back a connection the ledger is done with. */
    default void release(Connection conn) throws SQLException {
      conn.close();
    }
  }

  /** The connection of a SQLite file, given at open and never replaced. */
  static final Connections FIXED = () -> {
    throw new SQLException("a SQLite connection is never replaced");
  };

  /** The open connection; replaced only between transactions, and only when {@link #lost}. */
  private Connection conn;
  private final Connections connections;
  /** The connection was found lost: the next transaction, or read outside one, takes a new one. */
  private boolean lost;
  /** The lost connection went back to the pool, and taking a new one failed: nothing is left to close. */
  private boolean discarded;
  /** Whether a transaction (a write, a group of node runs, a snapshot read) is open on the connection. */
  private boolean inTransaction;
  /** When the connection was last used, by {@link #clock}; see {@link #IDLE_TEST_MS}. */
  private long lastUsedMs;
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

  /** On a connection of a SQLite file, never replaced. */
  SqliteDb(Connection conn, Engine engine, Clock clock, String where) {
    this(conn, FIXED, engine, clock, where);
  }

  /** On {@code conn}, replaced from {@code connections} when it is lost (if they replace at all). */
  SqliteDb(Connection conn, Connections connections, Engine engine, Clock clock, String where) {
    this.conn = conn;
    this.connections = connections;
    this.engine = engine;
    this.clock = clock;
    this.where = where;
    this.lastUsedMs = clock.millis();
  }

  /** The open connection. Call while holding this. */
  Connection conn() {
    return conn;
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

  /** Runs reads: inside the caller's transaction, if one is open, else each statement on its own. */
  synchronized <T> T query(String what, SqlWork<T> work) {
    try {
      if (!inTransaction) {
        replaceIfLost();
      }
      return work.run();
    } catch (SQLException e) {
      throw failure(what, e);
    } finally {
      lastUsedMs = clock.millis();
    }
  }

  /** Begins a write transaction (on a new connection if the last was lost). Call holding this. */
  void beginWrite() throws SQLException {
    replaceIfLost();
    inTransaction = true;
    engine.beginWrite(conn);
  }

  /** Begins a read transaction (on a new connection if the last was lost). Call holding this. */
  void beginRead() throws SQLException {
    replaceIfLost();
    // Marked only once begun: a BEGIN that failed (the connection lost) leaves nothing open to
    // end, and the reads after it must still replace a lost connection.
    engine.beginRead(conn);
    inTransaction = true;
  }

  /** Ends the read transaction {@link #beginRead} began: it has nothing to keep. Call holding this. */
  void endRead() {
    inTransaction = false;
    engine.rollback(conn, null);
    lastUsedMs = clock.millis();
  }

  /**
   * Before a transaction, or a read outside one: a connection found lost, or idle long enough to
   * be worth a test and failing it, is replaced by a new one. If none can be had, this throws and
   * the old one stays marked, to be replaced by the next try.
   */
  private void replaceIfLost() throws SQLException {
    if (!connections.replacesLost()) {
      return;
    }
    if (!lost && clock.millis() - lastUsedMs > IDLE_TEST_MS && !conn.isValid(VALIDATION_TIMEOUT_SECONDS)) {
      lost = true;
    }
    if (!lost) {
      return;
    }
    // The lost connection goes back before another is taken: a pool of the least size lends every
    // connection a ledger keeps (its writer, its credit reader, its leases'), none to spare.
    if (!discarded) {
      dropStatements();
      connections.discard(conn);
      discarded = true;
    }
    conn = connections.connect();
    discarded = false;
    lost = false;
    log.info("a new connection to the database {} replaces the one lost", where);
    // What this connection's last transaction did is known again only by reading it.
    forgetCaches();
  }

  /** A failure of a statement on PostgreSQL that says the connection is gone marks it lost. */
  private void noteLost(SQLException e) {
    if (connections.replacesLost() && !lost && (PostgresPool.lostConnection(e) || closed(conn))) {
      lost = true;
      log.warn("the connection to the database {} was lost ({}); the next transaction takes a new one", where,
          e.getMessage());
    }
  }

  private static boolean closed(Connection conn) {
    try {
      return conn.isClosed();
    } catch (SQLException e) {
      return true;
    }
  }

  /**
   * Runs work in one write transaction; rolls back on any failure. Returns only once COMMIT has
   * succeeded, and throws only if it did not: nothing that can fail runs after it.
   */
  synchronized <T> T write(String what, SqlWork<T> work) {
    requireNoGroup(what);
    T result;
    try {
      beginWrite();
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
    } finally {
      lastUsedMs = clock.millis();
    }
    committed();
    return result;
  }

  /**
   * Refuses a transaction of its own while a group of node runs holds this connection's, before
   * it touches the connection; on the run's own thread too: SQLite's BEGIN would fail and its
   * ROLLBACK undo the group, and on PostgreSQL the write would commit the group's open transaction
   * halfway. Call holding this.
   */
  void requireNoGroup(String what) {
    if (nodeWriter != null) {
      throw new IllegalStateException("cannot " + what + ": this connection is inside the run of a node on thread "
          + nodeWriter.getName() + "; open a ledger of its own for writes beside a run");
    }
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
    inTransaction = false;
    lastUsedMs = clock.millis();
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
    inTransaction = false;
    lastUsedMs = clock.millis();
    engine.rollback(conn, cause);
    forgetCaches();
  }

  /** Drops what the store's parts cached of rows this connection changed: after a rollback, or a lost connection. */
  private void forgetCaches() {
    groupMemo.clear();
    wroteTxns = false;
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

  /** Told when a write rolls back, and when a lost connection is replaced: caches no longer hold. */
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
    dropStatements();
    noteLost(e);
    return new LedgerException("cannot " + what + " in the database " + where + ": " + Engine.oneLine(e)
        + engine.hint(e), e);
  }

  /** Closes and forgets the cached statements that name {@code table}, which is gone. Call holding this. */
  void dropStatementsOn(String table) {
    statements.entrySet().removeIf(e -> {
      if (!e.getKey().contains(table + " ")) {
        return false;
      }
      try {
        e.getValue().close();
      } catch (SQLException suppressed) {
        // A statement on a dropped table has nothing left to release.
      }
      return true;
    });
  }

  private void dropStatements() {
    for (PreparedStatement ps : statements.values()) {
      try {
        ps.close();
      } catch (SQLException suppressed) {
        // Closing a finalized statement, or one of a lost connection, has nothing left to
        // release; the failure that led here is the error to report.
      }
    }
    statements.clear();
  }

  synchronized void close() {
    if (lost) {
      // Nothing of a lost connection is left to close cleanly.
      dropStatements();
      if (!discarded) {
        connections.discard(conn);
      }
      return;
    }
    try {
      for (PreparedStatement ps : statements.values()) {
        ps.close();
      }
      connections.release(conn);
    } catch (SQLException e) {
      connections.discard(conn);
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
