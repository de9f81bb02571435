package dev.meterd.ledger;

import dev.meterd.policy.CreditRules;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.util.Optional;

/**
 * Opens the ledger in a PostgreSQL database: the parts of {@link SqliteLedger} on a connection of
 * {@link Engine#POSTGRES}, with the same SQL wherever the two databases agree. Writes are one at a
 * time, as on SQLite, under an advisory lock (see {@link Engine#POSTGRES}).
 *
 * <p>The ledger's connections come from a pool of its own ({@link PostgresPool}): one for its
 * writes, one read-only for its credit reads, and one for the run lock while a run holds it. A
 * connection found lost (PostgreSQL restarted) is replaced by the next transaction.
 */
public final class PostgresLedger {

  /** "meterd" in ASCII, then 3: the session advisory lock of one run of the aggregator. */
  static final long RUN_LOCK_KEY = 0x6d65746572640003L;

  /**
   * How a PostgreSQL ledger waits, and how many connections it keeps.
   *
   * @param lockTimeoutMs PostgreSQL's {@code lock_timeout}: how long a write waits for another
   *     writer (as SQLite's busy timeout), and how long a transaction waits for a connection of the
   *     pool (at least 10 s, see {@link PostgresPool})
   * @param statementTimeoutMs PostgreSQL's {@code statement_timeout}, more than {@code lockTimeoutMs}
   * @param poolSize the most connections the ledger keeps, at least {@value #MIN_POOL_SIZE}
   */
  public record Settings(int lockTimeoutMs, int statementTimeoutMs, int poolSize) {

    /**
     * A ledger holds three connections at once: its writer and its credit reader for its life,
     * and the run lock's during a run. With fewer, one of them would wait for the pool, and fail.
     */
    public static final int MIN_POOL_SIZE = 3;
    /**
     * The three a ledger holds, and one for an attempt at the run lock while a run holds it,
     * which then hears at once that a run is in progress rather than wait for the pool.
     */
    public static final int DEFAULT_POOL_SIZE = 4;
    /**
     * Five minutes: {@code verify}'s checks each read whole tables in one statement, which on a
     * ledger of tens of millions of records takes minutes, while a write's statements take
     * milliseconds; a statement past it is a runaway one, holding the write lock.
     */
    public static final int DEFAULT_STATEMENT_TIMEOUT_MS = 300_000;

    public Settings {
      if (poolSize < MIN_POOL_SIZE) {
        throw new IllegalArgumentException("a PostgreSQL ledger needs a pool of at least " + MIN_POOL_SIZE
            + " connections, got " + poolSize);
      }
      if (lockTimeoutMs <= 0 || statementTimeoutMs <= lockTimeoutMs) {
        throw new IllegalArgumentException("the statement timeout must be more than the lock timeout, and that more "
            + "than 0, got " + statementTimeoutMs + " and " + lockTimeoutMs + " ms");
      }
    }

    /** The defaults, with a write waiting at most {@code lockTimeoutMs} for another. */
    public static Settings waitingAtMost(int lockTimeoutMs) {
      return new Settings(lockTimeoutMs, Math.max(DEFAULT_STATEMENT_TIMEOUT_MS, lockTimeoutMs + 1), DEFAULT_POOL_SIZE);
    }
  }

  private PostgresLedger() {}

  /**
   * Opens (creating or upgrading) the ledger in the database at {@code jdbcUrl} as {@code user},
   * of cents of {@code currency}.
   *
   * @param password the user's password, or null when the server asks none; it appears in no
   *     message
   * @throws CurrencyMismatchException the ledger keeps its amounts in another currency
   * @throws LedgerException no connection can be made (naming the URL and the user, and what to
   *     check), or the schema cannot be upgraded
   */
  public static SqliteLedger open(String jdbcUrl, String user, String password, Clock clock, Settings settings,
      CreditRules rules, String currency) {
    SqliteLedgerCurrency.checkCode(currency);
    PostgresPool pool = PostgresPool.open(jdbcUrl, user, password, settings);
    try {
      Connection conn = pool.connect();
      SqliteLedgerCurrency.refuseAnother(conn, Engine.POSTGRES, jdbcUrl, currency);
      return SqliteLedger.onConnection(conn, pool.writers(), Engine.POSTGRES, jdbcUrl, clock, rules, currency,
          () -> tryLockRun(pool), pool.readers(), pool);
    } catch (SQLException e) {
      pool.close();
      throw new LedgerException("cannot open the database " + jdbcUrl + " as user " + user + ": " + e.getMessage()
          + PostgresPool.hint(e), e);
    } catch (RuntimeException e) {
      // The pool closes the connection too.
      pool.close();
      throw e;
    }
  }

  /** As {@link #open(String, String, String, Clock, Settings, CreditRules, String)}, waiting at most {@code lockTimeoutMs}. */
  public static SqliteLedger open(String jdbcUrl, String user, String password, Clock clock, int lockTimeoutMs,
      CreditRules rules, String currency) {
    return open(jdbcUrl, user, password, clock, Settings.waitingAtMost(lockTimeoutMs), rules, currency);
  }

  /** As {@link #open(String, String, String, Clock, Settings, CreditRules, String)}, with the defaults of SQLite's. */
  public static SqliteLedger open(String jdbcUrl, String user, String password, Clock clock) {
    return open(jdbcUrl, user, password, clock, SqliteLedger.DEFAULT_BUSY_TIMEOUT_MS, CreditRules.DEFAULT,
        SqliteLedger.DEFAULT_CURRENCY);
  }

  /**
   * The run lock as a session advisory lock on a connection of the pool, held until the lock is
   * closed or the connection lost: what the lock file is on SQLite, one aggregator run at a time.
   * (Several daemons will claim nodes by leases instead, issue 13 step 3.)
   */
  private static Optional<RunLock> tryLockRun(PostgresPool pool) {
    Connection conn = null;
    try {
      conn = pool.connect();
      if (!advisory(conn, "pg_try_advisory_lock")) {
        pool.release(conn);
        return Optional.empty();
      }
      Connection held = conn;
      return Optional.of(() -> unlock(pool, held));
    } catch (SQLException e) {
      if (conn != null) {
        pool.discard(conn);
      }
      throw new LedgerException("cannot take the run lock in the database " + pool.url() + ": " + e.getMessage()
          + PostgresPool.hint(e), e);
    }
  }

  /**
   * Unlocks the run lock, then gives its connection back. A session lock outlives the borrower, so
   * a connection that does not say it unlocked (lost, or broken) is closed instead, which ends its
   * session and the lock with it: the pool never lends a connection holding it.
   */
  private static void unlock(PostgresPool pool, Connection conn) {
    try {
      if (advisory(conn, "pg_advisory_unlock")) {
        pool.release(conn);
        return;
      }
    } catch (SQLException e) {
      // Lost or broken: closed below, which is as good as unlocked.
    }
    pool.discard(conn);
  }

  private static boolean advisory(Connection conn, String function) throws SQLException {
    try (Statement st = conn.createStatement();
        ResultSet rs = st.executeQuery("SELECT " + function + "(" + RUN_LOCK_KEY + ")")) {
      rs.next();
      return rs.getBoolean(1);
    }
  }
}
