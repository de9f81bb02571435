package dev.meterd.ledger;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;

/**
 * Transactions on a PostgreSQL connection that is in JDBC autocommit mode between them, as a pool
 * hands it out: a transaction turns autocommit off and its end turns it back on.
 *
 * <p>Implementation notes. {@code Connection.commit()} is used rather than a {@code COMMIT}
 * statement: PostgreSQL answers a {@code COMMIT} of a transaction aborted by an earlier error
 * with a silent {@code ROLLBACK}, which the driver turns into an exception only for its own commit,
 * so a statement would report rolled-back money as committed.
 */
final class PostgresTransactions {

  private PostgresTransactions() {}

  /**
   * Begins a transaction holding the transaction-level advisory lock {@code key}: it waits (at
   * most the connection's {@code lock_timeout}) while another transaction holds it, and is
   * released by the COMMIT or ROLLBACK, or when the connection is lost.
   */
  static void beginLocked(Connection conn, long key) throws SQLException {
    requireNoneOpen(conn);
    conn.setAutoCommit(false);
    exec(conn, "SELECT pg_advisory_xact_lock(" + key + ")");
  }

  /** Takes one more transaction-level advisory lock in the transaction {@link #beginLocked} began. */
  static void lockAlso(Connection conn, long key) throws SQLException {
    exec(conn, "SELECT pg_advisory_xact_lock(" + key + ")");
  }

  /** A read transaction: every read in it sees the snapshot of its first statement, and it cannot write. */
  static void beginRead(Connection conn) throws SQLException {
    requireNoneOpen(conn);
    conn.setAutoCommit(false);
    try {
      exec(conn, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
      // The session ends a transaction idle as long as a lease (a frozen daemon's write must keep
      // no lock from the others); a read holds none, and `verify --replay` keeps its snapshot
      // open, idle, while it replays each node's history.
      exec(conn, "SET LOCAL idle_in_transaction_session_timeout = 0");
    } catch (SQLException e) {
      rollback(conn, e);
      throw e;
    }
  }

  /**
   * Refuses to begin inside an open transaction: PostgreSQL would not refuse (as SQLite's BEGIN
   * does), and the inner transaction's COMMIT would commit the outer one halfway.
   */
  private static void requireNoneOpen(Connection conn) throws SQLException {
    if (!conn.getAutoCommit()) {
      throw new SQLException("a transaction is already open on this connection");
    }
  }

  /** Commits; a failed commit is rolled back before the error is passed on. */
  static void commit(Connection conn) throws SQLException {
    try {
      conn.commit();
    } catch (SQLException e) {
      rollback(conn, e);
      throw e;
    }
    conn.setAutoCommit(true);
  }

  /**
   * Rolls back whatever transaction is open, if any; a failure to do so is added to {@code cause}
   * rather than thrown over it. A connection whose rollback failed is broken: the server ends its
   * transaction when the connection closes.
   */
  static void rollback(Connection conn, Throwable cause) {
    try {
      if (!conn.getAutoCommit()) {
        conn.rollback();
        conn.setAutoCommit(true);
      }
    } catch (SQLException e) {
      if (cause != null) {
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
