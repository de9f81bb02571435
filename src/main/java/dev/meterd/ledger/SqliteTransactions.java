package dev.meterd.ledger;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;

/**
 * Transactions on a sqlite-jdbc connection that stays in JDBC autocommit mode: {@code BEGIN},
 * {@code COMMIT} and {@code ROLLBACK} are run as plain statements.
 *
 * <p>Implementation notes. sqlite-jdbc's {@code Connection.commit()} runs {@code COMMIT} and at
 * once a new {@code BEGIN} (its manual mode always has a transaction open); with the
 * {@code IMMEDIATE} mode that second statement waits for the write lock, and if another
 * connection takes the lock first it fails after the busy timeout, so the caller sees an
 * exception for data that is committed. A grant would answer 503 though applied, and a node would
 * be halted with its charges in the ledger. Running the statements ourselves makes the outcome
 * of {@code COMMIT} the outcome reported: nothing runs after it that could fail. (sqlite-jdbc's
 * autocommit guard, a {@code begin; commit;} after each statement, fails harmlessly while a
 * transaction of ours is open and does nothing.)
 */
final class SqliteTransactions {

  private SqliteTransactions() {}

  /** Takes the write lock at once (waiting at most the busy timeout for another writer). */
  static void beginImmediate(Connection conn) throws SQLException {
    exec(conn, "BEGIN IMMEDIATE");
  }

  /** A read transaction: every read in it sees one snapshot of the database (WAL). */
  static void beginRead(Connection conn) throws SQLException {
    exec(conn, "BEGIN DEFERRED");
  }

  /**
   * Commits. A {@code COMMIT} that fails (busy, a full disk) leaves the transaction open or
   * already rolled back, and it is rolled back here before the error is passed on. One case stays
   * uncertain, as with any database: an I/O error in the very fsync of the commit, followed by a
   * crash, may leave the transaction committed after recovery though this threw. That is why every
   * request that moves money takes an idempotency key: a retry with it cannot apply twice.
   */
  static void commit(Connection conn) throws SQLException {
    try {
      exec(conn, "COMMIT");
    } catch (SQLException e) {
      rollback(conn, e);
      throw e;
    }
  }

  /**
   * Rolls back whatever transaction is open, if any; a failure to do so is added to {@code cause}
   * (the error that made the caller give up) rather than thrown over it. SQLite discards an
   * uncommitted transaction whose rollback failed when the connection next writes or closes, so
   * nothing of it can be committed later.
   */
  static void rollback(Connection conn, Throwable cause) {
    try {
      exec(conn, "ROLLBACK");
    } catch (SQLException e) {
      if (!e.getMessage().contains("no transaction is active") && cause != null) {
        cause.addSuppressed(e);
      }
    }
  }

  private static void exec(Connection conn, String sql) throws SQLException {
    try (Statement st = conn.createStatement()) {
      st.execute(sql);
    }
  }
}
