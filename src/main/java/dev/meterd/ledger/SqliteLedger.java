package dev.meterd.ledger;

import dev.meterd.policy.CreditRules;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.time.Clock;
import java.util.Optional;
import org.sqlite.SQLiteConfig;
import org.sqlite.SQLiteOpenMode;

/**
 * The ledger in one SQLite file, or in a PostgreSQL database ({@link PostgresLedger} opens it:
 * the same parts on a connection of the other {@link Engine}; this class and its parts keep
 * their Sqlite names until a mechanical rename): one connection ({@link SqliteDb}) shared by the store's parts,
 * and a second one, opened on first use, that only reads the credit authorize decides on
 * ({@link SqliteCreditReads}: it must never wait behind a write).
 *
 * <p>Every write is one {@code BEGIN IMMEDIATE} transaction (WAL, {@code synchronous=FULL}: this is
 * money), so a crash leaves either the old state or the new one, and two processes on one file
 * serialize on the write lock. Every ledger row carries a hash chained to the row before it, so
 * that {@code verify} can prove no row was changed after it was written.
 */
public final class SqliteLedger implements Ledger {

  /** How long a write waits for another connection's write lock before it fails (transient). */
  public static final int DEFAULT_BUSY_TIMEOUT_MS = 10_000;
  /** The currency of a ledger opened without one: {@code [billing] currency}'s default. */
  public static final String DEFAULT_CURRENCY = "USD";

  private final SqliteDb db;
  private final SqliteNodeStore nodeStore;
  private final SqliteWalletStore walletStore;
  private final SqlitePayments payments;
  private final SqliteUnappliedPayments unappliedPayments;
  private final SqliteReads reads;
  private final SqliteAudit audit;
  private final SqliteOutbox outbox;
  private final SqliteCreditReads creditReads;
  private final SqliteHolds holds;
  /** Takes the lock that keeps a second run of the aggregator off this database, if free. */
  private final java.util.function.Supplier<Optional<RunLock>> runLock;
  private final NodeLeases leases;
  /** Closed last: PostgreSQL's pool, which the parts' connections go back to; nothing on SQLite. */
  private final AutoCloseable pool;

  private SqliteLedger(SqliteDb db, java.util.function.Supplier<Optional<RunLock>> runLock, CreditRules rules,
      SqliteDb.Connections reader, AutoCloseable pool, NodeLeases leases) {
    this.db = db;
    this.runLock = runLock;
    this.pool = pool;
    this.leases = leases;
    this.outbox = new SqliteOutbox(db);
    SqliteWalletRows rows = new SqliteWalletRows(db, outbox);
    SqliteWalletCache walletCache = new SqliteWalletCache();
    SqliteSpend spend = new SqliteSpend(db, rules, outbox);
    this.creditReads = new SqliteCreditReads(reader, db.engine, db.clock, db.where);
    this.holds = new SqliteHolds(db, creditReads);
    this.nodeStore = new SqliteNodeStore(db, rows, walletCache, spend, outbox, holds,
        leases instanceof LeaseFence fence ? fence : LeaseFence.NONE);
    this.walletStore = new SqliteWalletStore(db, rows, walletCache, spend);
    this.payments = new SqlitePayments(db, rows);
    this.unappliedPayments = new SqliteUnappliedPayments(db);
    this.reads = new SqliteReads(db, nodeStore);
    this.audit = new SqliteAudit(db);
  }

  /** Opens (creating or upgrading) the ledger in {@code file}, of cents of {@value #DEFAULT_CURRENCY}. */
  public static SqliteLedger open(Path file, Clock clock) {
    return open(file, clock, DEFAULT_BUSY_TIMEOUT_MS);
  }

  /** As {@link #open(Path, Clock)}, waiting at most {@code busyTimeoutMs} for another writer. */
  public static SqliteLedger open(Path file, Clock clock, int busyTimeoutMs) {
    return open(file, clock, busyTimeoutMs, CreditRules.DEFAULT);
  }

  /** As {@link #open(Path, Clock, int)}, with the operator's rules of prepaid credit. */
  public static SqliteLedger open(Path file, Clock clock, int busyTimeoutMs, CreditRules rules) {
    return open(file, clock, busyTimeoutMs, rules, DEFAULT_CURRENCY);
  }

  /**
   * As {@link #open(Path, Clock, int, CreditRules)}, for cents of {@code currency} ({@code
   * [billing] currency}). A new ledger records it, as does one upgraded from a version that did
   * not; a ledger that keeps another currency is refused before anything is written to it.
   *
   * @param currency an upper-case ISO 4217 code
   * @throws CurrencyMismatchException the ledger keeps its amounts in another currency
   */
  public static SqliteLedger open(Path file, Clock clock, int busyTimeoutMs, CreditRules rules, String currency) {
    SqliteLedgerCurrency.checkCode(currency);
    try {
      Path parent = file.toAbsolutePath().getParent();
      if (parent != null) {
        Files.createDirectories(parent);
      }
    } catch (IOException e) {
      throw new LedgerException("cannot create the folder of the database " + file + ": " + e.getMessage(), e);
    }
    Connection conn = null;
    try {
      conn = connect(file, busyTimeoutMs);
      SqliteLedgerCurrency.refuseAnother(conn, Engine.SQLITE, file.toString(), currency);
      // The run lock's file is beside the database's real path: every name of one database
      // (relative, absolute, through a symbolic link) must lock the same file.
      Path real = file.toRealPath();
      Path runLockFile = real.resolveSibling(real.getFileName() + ".run-lock");
      SqliteLedger ledger = onConnection(conn, SqliteDb.FIXED, Engine.SQLITE, file.toString(), clock, rules, currency,
          () -> FileRunLock.tryLock(runLockFile), () -> connectReader(file, busyTimeoutMs), () -> { },
          NodeLeases.NONE);
      return boundsFromSystemProperty(ledger);
    } catch (SQLException | IOException e) {
      closeQuietly(conn);
      throw new LedgerException("cannot open the database " + file + ": " + e.getMessage(), e);
    } catch (RuntimeException e) {
      closeQuietly(conn);
      throw e;
    }
  }

  /**
   * Upgrades the schema on {@code conn}, records or checks the currency, and builds the ledger's
   * parts on it: the same for either engine. On a failure the caller closes {@code conn}.
   *
   * @param connections where {@code conn} is replaced from if it is lost
   * @param reader the credit reads' connections
   * @param pool closed after the parts, with the ledger
   */
  static SqliteLedger onConnection(Connection conn, SqliteDb.Connections connections, Engine engine, String where,
      Clock clock, CreditRules rules, String currency, java.util.function.Supplier<Optional<RunLock>> runLock,
      SqliteDb.Connections reader, AutoCloseable pool, NodeLeases leases) throws SQLException {
    Migrations.upgrade(conn, engine, where);
    SqliteLedgerCurrency.recordIfAbsent(conn, engine, where, currency, clock.instant());
    return new SqliteLedger(new SqliteDb(conn, connections, engine, clock, where), runLock, rules, reader, pool,
        leases);
  }

  private static Connection connect(Path file, int busyTimeoutMs) throws SQLException {
    SQLiteConfig config = new SQLiteConfig();
    config.setJournalMode(SQLiteConfig.JournalMode.WAL);
    config.setSynchronous(SQLiteConfig.SynchronousMode.FULL);
    config.setBusyTimeout(busyTimeoutMs);
    config.enforceForeignKeys(true);
    config.setCacheSize(-32_768);
    // sqlite-jdbc would otherwise prepare, run and finalize a "SELECT last_insert_rowid()" after
    // every INSERT (for getGeneratedKeys, which meterd never calls): a third of a node's write time.
    config.setGetGeneratedKeys(false);
    // SQLite's own lock around every call on the connection (its "serialized" mode) is redundant:
    // sqlite-jdbc makes every call on a connection (prepare, bind, step, column, reset, finalize)
    // a method synchronized on that connection's NativeDB, so no two threads are ever inside
    // SQLite on one connection, and each connection is opened here and used only through it. The
    // lock taken twice per call was about a twentieth of a group's write (bench --layout A).
    config.setOpenMode(SQLiteOpenMode.NOMUTEX);
    return DriverManager.getConnection("jdbc:sqlite:" + file, config.toProperties());
  }

  /** A connection that can only read (query_only): the credit reads' own, see {@link SqliteCreditReads}. */
  private static Connection connectReader(Path file, int busyTimeoutMs) throws SQLException {
    Connection conn = connect(file, busyTimeoutMs);
    try (java.sql.Statement st = conn.createStatement()) {
      st.execute("PRAGMA query_only = true");
    } catch (SQLException e) {
      closeQuietly(conn);
      throw e;
    }
    return conn;
  }

  static void closeQuietly(Connection conn) {
    if (conn != null) {
      try {
        conn.close();
      } catch (SQLException suppressed) {
        // The open already failed; its exception is the one to report.
      }
    }
  }

  /**
   * The consumed-record index's bounds a crash test gives the jar it starts ({@code
   * -Dmeterd.consumed_index=LEVEL0,FAN_IN,CHUNK}, as {@link #consumedIndexBounds}), so that its
   * runs seal and merge often; the defaults unless the property is set.
   */
  private static SqliteLedger boundsFromSystemProperty(SqliteLedger ledger) {
    String bounds = System.getProperty("meterd.consumed_index");
    if (bounds == null || bounds.isBlank()) {
      return ledger;
    }
    String[] parts = bounds.split(",");
    try {
      if (parts.length != 3) {
        throw new IllegalArgumentException("three numbers");
      }
      return ledger.consumedIndexBounds(Integer.parseInt(parts[0].trim()), Integer.parseInt(parts[1].trim()),
          Integer.parseInt(parts[2].trim()));
    } catch (IllegalArgumentException e) {
      ledger.close();
      throw new IllegalArgumentException("-Dmeterd.consumed_index=" + bounds + " is not LEVEL0,FAN_IN,CHUNK (for tests "
          + "only): " + e.getMessage(), e);
    }
  }

  /**
   * Seals the consumed-record index's newest level at {@code level0Rows} rows and merges {@code
   * fanIn} segments of a tier, {@code mergeChunk} records a transaction, instead of {@value
   * ConsumedSegments#LEVEL0_ROWS}, {@value ConsumedSegments#FAN_IN} and {@value
   * ConsumedSegments#MERGE_CHUNK}: for tests, which see seals and merges after a few records.
   * SQLite only.
   */
  public SqliteLedger consumedIndexBounds(int level0Rows, int fanIn, int mergeChunk) {
    synchronized (db) {
      nodeStore.segments.bounds(level0Rows, fanIn, mergeChunk);
    }
    return this;
  }

  @Override
  public NodeStore nodeStore() {
    return nodeStore;
  }

  @Override
  public WalletStore walletStore() {
    return walletStore;
  }

  @Override
  public PaymentStore payments() {
    return payments;
  }

  @Override
  public UnappliedPayments unappliedPayments() {
    return unappliedPayments;
  }

  @Override
  public LedgerReads reads() {
    return reads;
  }

  @Override
  public LedgerAudit audit() {
    return audit;
  }

  @Override
  public Outbox outbox() {
    return outbox;
  }

  /** For tests: the outbox's write side, and the connection its events are written on. */
  SqliteOutbox outboxWriter() {
    return outbox;
  }

  /** For tests: runs {@code work} as one write transaction of this ledger. */
  <T> T write(String what, SqliteDb.SqlWork<T> work) {
    return db.write(what, work);
  }

  @Override
  public HoldStore holds() {
    return holds;
  }

  @Override
  public Optional<RunLock> tryLockRun() {
    return runLock.get();
  }

  @Override
  public NodeLeases leases() {
    return leases;
  }

  /** For tests: what to run right after each successful COMMIT of this ledger. */
  void afterCommit(Runnable hook) {
    db.afterCommit(hook);
  }

  @Override
  public void close() {
    try {
      creditReads.close();
      if (leases instanceof PostgresLeases shared) {
        shared.close();
      }
    } finally {
      try {
        db.close();
      } finally {
        closePool();
      }
    }
  }

  private void closePool() {
    try {
      pool.close();
    } catch (Exception e) {
      throw new LedgerException("cannot close the connections to the database " + db.where + ": " + e.getMessage(), e);
    }
  }
}
