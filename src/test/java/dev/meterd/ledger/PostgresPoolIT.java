package dev.meterd.ledger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.meterd.policy.CreditRules;
import dev.meterd.testing.MutableClock;
import dev.meterd.testing.TestPostgres;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * The PostgreSQL ledger's pool: a connection comes back to it with nothing of its borrower's
 * session (the credit reader's read-only mode, the run lock's advisory lock), and a failed open
 * names the database and the user and never the password.
 */
class PostgresPoolIT {

  private static final String WRONG_PASSWORD = "not-the-password-7f3a9c";

  private final TestPostgres.Database db = TestPostgres.freshDatabase();
  private final MutableClock clock = new MutableClock(Instant.parse("2026-11-21T10:05:00Z"));

  private PostgresPool pool() {
    return PostgresPool.open(db.jdbcUrl(), db.user(), db.password(), new PostgresLedger.Settings(2_000, 60_000, 3),
        new PostgresLedger.Sharing("host/123/abcd", Duration.ofSeconds(45)));
  }

  /** A daemon's ledger (application_name "meterd " + daemon) on a pool of the least size. */
  private SqliteLedger leastPoolLedger(String daemon) {
    return PostgresLedger.open(db.jdbcUrl(), db.user(), db.password(), clock,
        new PostgresLedger.Settings(2_000, 60_000, PostgresLedger.Settings.MIN_POOL_SIZE), CreditRules.DEFAULT, "USD",
        new PostgresLedger.Sharing(daemon, Duration.ofMinutes(10)));
  }

  private static int backend(Connection conn) throws SQLException {
    return Integer.parseInt(first(conn, "SELECT pg_backend_pid()"));
  }

  private static String first(Connection conn, String sql) throws SQLException {
    try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery(sql)) {
      rs.next();
      return rs.getString(1);
    }
  }

  @Test
  void theCreditReadersConnectionIsReadOnlyAndComesBackToThePoolWritable() throws SQLException {
    try (PostgresPool pool = pool()) {
      Connection reader = pool.connectReader();
      assertThat(first(reader, "SHOW transaction_read_only")).isEqualTo("on");
      assertLentAgainWritable(pool, reader);
    }
  }

  /**
   * Inside a transaction the driver keeps read-only per transaction, not on the session; given
   * back so, the reader's connection still comes back with neither.
   */
  @Test
  void aReaderGivenBackInsideATransactionComesBackWritableToo() throws SQLException {
    try (PostgresPool pool = pool()) {
      Connection reader = pool.connectReader();
      reader.setAutoCommit(false);
      assertThat(first(reader, "SELECT count(*) FROM pg_class WHERE relname = 'pg_class'")).isEqualTo("1");
      assertLentAgainWritable(pool, reader);
    }
  }

  /** Gives the reader back; the pool lends the same server connection next, writable and in autocommit. */
  private static void assertLentAgainWritable(PostgresPool pool, Connection reader) throws SQLException {
    int readerBackend = backend(reader);
    pool.release(reader);
    Connection next = pool.connect();
    assertThat(backend(next)).as("the same server connection, lent again").isEqualTo(readerBackend);
    assertThat(next.getAutoCommit()).isTrue();
    assertThat(first(next, "SHOW transaction_read_only")).isEqualTo("off");
    assertThat(first(next, "SHOW default_transaction_read_only")).isEqualTo("off");
    pool.release(next);
  }

  @Test
  void everyConnectionWaitsForLocksAndRunsStatementsAsConfigured() throws SQLException {
    try (PostgresPool pool = pool()) {
      Connection conn = pool.connect();
      assertThat(first(conn, "SHOW lock_timeout")).isEqualTo("2s");
      assertThat(first(conn, "SHOW statement_timeout")).isEqualTo("1min");
      assertThat(first(conn, "SHOW idle_in_transaction_session_timeout")).isEqualTo("45s");
      assertThat(first(conn, "SHOW application_name")).isEqualTo("meterd host/123/abcd");
      pool.release(conn);
    }
  }

  /**
   * The run lock keeps a second run of this process off (the timer's and an admin's) and holds
   * nothing in the database: another daemon's runs go on beside it, sharing the nodes by leases.
   */
  @Test
  void theRunLockIsThisProcesssAndHoldsNoLockNorConnectionInTheDatabase() throws SQLException {
    try (SqliteLedger ledger = PostgresLedger.open(db.jdbcUrl(), db.user(), db.password(), clock,
        new PostgresLedger.Settings(2_000, 60_000, 3), CreditRules.DEFAULT, "USD");
        SqliteLedger otherDaemon = PostgresLedger.open(db.jdbcUrl(), db.user(), db.password(), clock,
            new PostgresLedger.Settings(2_000, 60_000, 3), CreditRules.DEFAULT, "USD");
        Connection watcher = DriverManager.getConnection(db.jdbcUrl(), db.user(), db.password())) {
      String held = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted";
      Optional<RunLock> lock = ledger.tryLockRun();
      assertThat(lock).isPresent();
      assertThat(ledger.tryLockRun()).as("a second run of this process").isEmpty();
      Optional<RunLock> beside = otherDaemon.tryLockRun();
      assertThat(beside).as("another daemon's run").isPresent();
      assertThat(first(watcher, held)).isEqualTo("0");

      lock.get().close();
      lock.get().close();
      Optional<RunLock> again = ledger.tryLockRun();
      assertThat(again).isPresent();
      assertThat(ledger.tryLockRun()).as("a lock closed twice is released once").isEmpty();
      again.get().close();
      beside.get().close();
    }
  }

  /**
   * A ledger keeps three connections for its life (its writer, its credit reader, its leases'),
   * all a pool of the least size lends: after PostgreSQL ended them (a restart), each is replaced
   * all the same, with no fourth to take first.
   */
  @Test
  void aPoolOfTheLeastSizeReplacesEveryConnectionARestartEnded() throws SQLException {
    try (SqliteLedger ledger = leastPoolLedger("daemon-a");
        Connection watcher = DriverManager.getConnection(db.jdbcUrl(), db.user(), db.password())) {
      ledger.walletStore().credit("u1", TxnType.GRANT, 1_000, "admin", "seed");
      assertThat(ledger.holds().credit("u1").balanceCents()).isEqualTo(1_000);
      assertThat(ledger.leases().leases()).isEmpty();
      String ours = "FROM pg_stat_activity WHERE application_name = 'meterd daemon-a'";
      assertThat(first(watcher, "SELECT count(*) " + ours)).isEqualTo("3");

      first(watcher, "SELECT count(pg_terminate_backend(pid)) " + ours);
      // Idle long enough that each connection is tested before its next use.
      clock.advance(Duration.ofSeconds(2));

      ledger.walletStore().credit("u1", TxnType.GRANT, 500, "admin", "after the restart");
      assertThat(ledger.holds().credit("u1").balanceCents()).isEqualTo(1_500);
      assertThat(ledger.leases().leases()).isEmpty();
    }
  }

  /**
   * A verify whose read transaction could not begin (PostgreSQL ended the connection) leaves no
   * transaction behind: the next read replaces the lost connection, as after any other failure.
   */
  @Test
  void aReadAfterAVerifyThatCouldNotBeginTakesANewConnection() throws SQLException {
    try (SqliteLedger ledger = leastPoolLedger("daemon-v");
        Connection watcher = DriverManager.getConnection(db.jdbcUrl(), db.user(), db.password())) {
      ledger.walletStore().credit("u1", TxnType.GRANT, 1_000, "admin", "seed");
      first(watcher, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
          + "WHERE application_name = 'meterd daemon-v'");

      // Used again at once (no idle test first): the read transaction's start fails.
      LedgerException verifyFailed = catchThrowableOfType(LedgerException.class, () -> ledger.audit().verify());
      assertThat(verifyFailed).hasMessageStartingWith("cannot verify the ledger in the database ");

      assertThat(ledger.reads().wallet("u1").orElseThrow().balanceCents()).isEqualTo(1_000);
      assertThat(ledger.audit().verify()).isEmpty();
    }
  }

  @Test
  void aWrongPasswordFailsTheOpenNamingTheDatabaseAndTheUserButNotThePassword() {
    LedgerException e = catchThrowableOfType(LedgerException.class, () -> PostgresLedger.open(db.jdbcUrl(), db.user(),
        WRONG_PASSWORD, clock));

    assertThat(e).hasMessage("cannot open the database " + db.jdbcUrl() + " as user " + db.user()
        + ": FATAL: password authentication failed for user \"" + db.user() + "\"; check storage.user and the "
        + "password in METERD_DB_PASSWORD");
    assertThat(everythingSaid(e)).doesNotContain(WRONG_PASSWORD);
  }

  @Test
  void anUnreachableServerFailsTheOpenNamingTheDatabaseAndWhatToCheck() throws Exception {
    int port = freePort();
    String url = "jdbc:postgresql://127.0.0.1:" + port + "/meterd";
    LedgerException e = catchThrowableOfType(LedgerException.class, () -> PostgresLedger.open(url, "meterd",
        WRONG_PASSWORD, clock));

    assertThat(e).hasMessage("cannot open the database " + url + " as user meterd: Connection to 127.0.0.1:" + port
        + " refused. Check that the hostname and port are correct and that the postmaster is accepting TCP/IP "
        + "connections.; check that PostgreSQL is running and reachable");
    assertThat(everythingSaid(e)).doesNotContain(WRONG_PASSWORD);
  }

  @Test
  void aMissingDatabaseFailsTheOpenSayingToCreateIt() {
    String url = db.jdbcUrl().replaceFirst("/meterd_test_[0-9a-f]+", "/no_such_database");
    LedgerException e = catchThrowableOfType(LedgerException.class, () -> PostgresLedger.open(url, db.user(),
        db.password(), clock));

    assertThat(e).hasMessage("cannot open the database " + url + " as user " + db.user()
        + ": FATAL: database \"no_such_database\" does not exist; create the database first (createdb), or correct "
        + "storage.url");
  }

  /** The exception's messages, its causes' and suppressed ones', and its stack trace, as a log would show them. */
  static String everythingSaid(Throwable e) {
    StringWriter out = new StringWriter();
    e.printStackTrace(new PrintWriter(out));
    return out.toString();
  }

  static int freePort() throws Exception {
    try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      return probe.getLocalPort();
    }
  }
}
