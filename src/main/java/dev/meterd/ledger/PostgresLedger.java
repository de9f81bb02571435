package dev.meterd.ledger;

import dev.meterd.policy.CreditRules;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;

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
     * A ledger holds three connections for its life: its writer, its credit reader and its
     * leases'. With fewer, one of them would wait for the pool, and fail; a lost one goes back
     * before its replacement is taken, so none needs a fourth.
     */
    public static final int MIN_POOL_SIZE = 3;
    /** The three a ledger holds, and one to spare. */
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
    return open(jdbcUrl, user, password, clock, settings, rules, currency,
        new Sharing(PostgresLeases.PROCESS_HOLDER, DEFAULT_LEASE));
  }

  /** This process's name in the leases: its host, its process id and a random tail. */
  public static final String PROCESS_HOLDER = PostgresLeases.PROCESS_HOLDER;

  /** How long a claimed node stays a daemon's without a renewal, unless configured. */
  public static final java.time.Duration DEFAULT_LEASE = java.time.Duration.ofSeconds(30);

  /**
   * How this daemon shares the database's nodes with the others.
   *
   * @param holder its name in the leases, unique to the process
   * @param lease how long a claim lasts unless renewed: a killed daemon's nodes wait this long
   *     for another; a transaction idle this long (a frozen daemon's) is ended by the server
   */
  public record Sharing(String holder, java.time.Duration lease) {

    public Sharing {
      if (lease.toMillis() < 1 || lease.toMillis() > Integer.MAX_VALUE) {
        throw new IllegalArgumentException("a lease must last from a millisecond to 24 days, not " + lease);
      }
    }
  }

  /**
   * As {@link #open(String, String, String, Clock, Settings, CreditRules, String)}, sharing the
   * nodes with the other daemons of the database as {@code sharing} says.
   */
  public static SqliteLedger open(String jdbcUrl, String user, String password, Clock clock, Settings settings,
      CreditRules rules, String currency, Sharing sharing) {
    SqliteLedgerCurrency.checkCode(currency);
    PostgresPool pool = PostgresPool.open(jdbcUrl, user, password, settings, sharing);
    try {
      Connection conn = pool.connect();
      SqliteLedgerCurrency.refuseAnother(conn, Engine.POSTGRES, jdbcUrl, currency);
      AtomicBoolean running = new AtomicBoolean();
      return SqliteLedger.onConnection(conn, pool.writers(), Engine.POSTGRES, jdbcUrl, clock, rules, currency,
          () -> tryLockRun(running), pool.readers(), pool,
          new PostgresLeases(pool.writers(), jdbcUrl, sharing.holder(), sharing.lease()));
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
   * The run lock: one run at a time in this process (the timer's and an admin's). The daemons'
   * runs go on beside it, sharing the nodes by their leases ({@link PostgresLeases}); it holds no
   * connection and no lock in the database.
   */
  private static Optional<RunLock> tryLockRun(AtomicBoolean running) {
    if (!running.compareAndSet(false, true)) {
      return Optional.empty();
    }
    AtomicBoolean held = new AtomicBoolean(true);
    return Optional.of(() -> {
      if (held.getAndSet(false)) {
        running.set(false);
      }
    });
  }
}
