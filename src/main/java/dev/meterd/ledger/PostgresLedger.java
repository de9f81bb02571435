package dev.meterd.ledger;

import dev.meterd.policy.CreditRules;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.util.Optional;
import java.util.Properties;

/**
 * Opens the ledger in a PostgreSQL database: the parts of {@link SqliteLedger} on a connection of
 * {@link Engine#POSTGRES}, with the same SQL wherever the two databases agree. Writes are one at a
 * time, as on SQLite, under an advisory lock (see {@link Engine#POSTGRES}).
 *
 * <p>One connection from {@link DriverManager} for now, plus the credit reads' own, read-only one;
 * the pool and its sizing come with {@code [storage] kind = "postgres"}.
 */
public final class PostgresLedger {

  /** "meterd" in ASCII, then 3: the session advisory lock of one run of the aggregator. */
  static final long RUN_LOCK_KEY = 0x6d65746572640003L;

  private PostgresLedger() {}

  /**
   * Opens (creating or upgrading) the ledger in the database at {@code jdbcUrl}, of cents of
   * {@code currency}, waiting at most {@code lockTimeoutMs} for another writer.
   *
   * @throws CurrencyMismatchException the ledger keeps its amounts in another currency
   */
  public static SqliteLedger open(String jdbcUrl, String user, String password, Clock clock, int lockTimeoutMs,
      CreditRules rules, String currency) {
    SqliteLedgerCurrency.checkCode(currency);
    Connection conn = null;
    try {
      conn = connect(jdbcUrl, user, password, lockTimeoutMs);
      SqliteLedgerCurrency.refuseAnother(conn, Engine.POSTGRES, jdbcUrl, currency);
      return SqliteLedger.onConnection(conn, Engine.POSTGRES, jdbcUrl, clock, rules, currency,
          () -> tryLockRun(jdbcUrl, user, password, lockTimeoutMs),
          () -> connectReader(jdbcUrl, user, password, lockTimeoutMs));
    } catch (SQLException e) {
      SqliteLedger.closeQuietly(conn);
      throw new LedgerException("cannot open the database " + jdbcUrl + ": " + e.getMessage(), e);
    } catch (RuntimeException e) {
      SqliteLedger.closeQuietly(conn);
      throw e;
    }
  }

  /** As {@link #open(String, String, String, Clock, int, CreditRules, String)}, with the defaults of SQLite's. */
  public static SqliteLedger open(String jdbcUrl, String user, String password, Clock clock) {
    return open(jdbcUrl, user, password, clock, SqliteLedger.DEFAULT_BUSY_TIMEOUT_MS, CreditRules.DEFAULT,
        SqliteLedger.DEFAULT_CURRENCY);
  }

  private static Connection connect(String jdbcUrl, String user, String password, int lockTimeoutMs)
      throws SQLException {
    Properties props = new Properties();
    props.setProperty("user", user);
    if (password != null) {
      props.setProperty("password", password);
    }
    Connection conn = DriverManager.getConnection(jdbcUrl, props);
    try (Statement st = conn.createStatement()) {
      // The advisory lock of a write waits as long as SQLite's busy timeout would, then fails (transient).
      st.execute("SET lock_timeout = " + lockTimeoutMs);
    } catch (SQLException e) {
      SqliteLedger.closeQuietly(conn);
      throw e;
    }
    return conn;
  }

  /** A connection whose transactions can only read: the credit reads' own, see {@link SqliteCreditReads}. */
  private static Connection connectReader(String jdbcUrl, String user, String password, int lockTimeoutMs)
      throws SQLException {
    Connection conn = connect(jdbcUrl, user, password, lockTimeoutMs);
    try (Statement st = conn.createStatement()) {
      st.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY");
    } catch (SQLException e) {
      SqliteLedger.closeQuietly(conn);
      throw e;
    }
    return conn;
  }

  /**
   * The run lock as a session advisory lock on a connection of its own, held until the lock is
   * closed or the connection lost: what the lock file is on SQLite, one aggregator run at a time.
   * (Several daemons will claim nodes by leases instead, issue 13 step 3.)
   */
  private static Optional<RunLock> tryLockRun(String jdbcUrl, String user, String password, int lockTimeoutMs) {
    Connection conn = null;
    try {
      conn = connect(jdbcUrl, user, password, lockTimeoutMs);
      try (Statement st = conn.createStatement();
          ResultSet rs = st.executeQuery("SELECT pg_try_advisory_lock(" + RUN_LOCK_KEY + ")")) {
        rs.next();
        if (!rs.getBoolean(1)) {
          SqliteLedger.closeQuietly(conn);
          return Optional.empty();
        }
      }
      Connection held = conn;
      return Optional.of(() -> SqliteLedger.closeQuietly(held));
    } catch (SQLException e) {
      SqliteLedger.closeQuietly(conn);
      throw new LedgerException("cannot take the run lock in the database " + jdbcUrl + ": " + e.getMessage()
          + "; check that the database is reachable", e);
    }
  }
}
