package dev.meterd.testing;

import java.util.Map;

/**
 * A fresh, empty PostgreSQL database for each test, with no service set up by hand.
 *
 * <p>When {@value #URL_VARIABLE} is set, the databases are created on that server (as
 * {@value #USER_VARIABLE}, default {@value #DEFAULT_USER}, with the password in
 * {@value #PASSWORD_VARIABLE}) and dropped when the test JVM ends. Otherwise the first call starts
 * one throwaway server from the machine's own PostgreSQL binaries, shared by every test of the JVM
 * and removed when it ends.
 */
public final class TestPostgres {

  static final String URL_VARIABLE = "METERD_TEST_PG_URL";
  static final String USER_VARIABLE = "METERD_TEST_PG_USER";
  static final String PASSWORD_VARIABLE = "METERD_DB_PASSWORD";
  static final String DEFAULT_USER = "postgres";

  /** How a test connects to its database; {@code password} is what meterd reads from METERD_DB_PASSWORD. */
  public record Database(String jdbcUrl, String user, String password) {

    /**
     * The ledger of a daemon named {@code holder} in the leases (as if another process), with the
     * defaults' timeouts and leases of ten minutes (a test lapses one by hand); the caller closes it.
     */
    public dev.meterd.ledger.SqliteLedger openAsDaemon(String holder, java.time.Clock clock) {
      return openAsDaemon(holder, clock, java.time.Duration.ofMinutes(10),
          dev.meterd.ledger.SqliteLedger.DEFAULT_BUSY_TIMEOUT_MS);
    }

    /** As {@link #openAsDaemon(String, java.time.Clock)}, with leases of {@code lease} and writes waiting {@code lockTimeoutMs}. */
    public dev.meterd.ledger.SqliteLedger openAsDaemon(String holder, java.time.Clock clock, java.time.Duration lease,
        int lockTimeoutMs) {
      return dev.meterd.ledger.PostgresLedger.open(jdbcUrl, user, password, clock,
          dev.meterd.ledger.PostgresLedger.Settings.waitingAtMost(lockTimeoutMs), dev.meterd.policy.CreditRules.DEFAULT,
          dev.meterd.ledger.SqliteLedger.DEFAULT_CURRENCY, new dev.meterd.ledger.PostgresLedger.Sharing(holder, lease));
    }
  }

  private static PostgresServer shared;

  private TestPostgres() {
  }

  /** A new, empty database with a unique name; the first call finds or starts the server. */
  public static synchronized Database freshDatabase() {
    if (shared == null) {
      shared = serverFor(System.getenv());
    }
    return shared.freshDatabase();
  }

  /** The server the environment names, or a throwaway one started now; either is cleaned up at JVM exit. */
  static PostgresServer serverFor(Map<String, String> env) {
    String url = env.getOrDefault(URL_VARIABLE, "");
    if (!url.isBlank()) {
      PostgresServer server = new PostgresServer(url, env.getOrDefault(USER_VARIABLE, DEFAULT_USER),
          env.getOrDefault(PASSWORD_VARIABLE, ""), "the server of " + URL_VARIABLE + " " + url,
          "check " + URL_VARIABLE + ", " + USER_VARIABLE + " and " + PASSWORD_VARIABLE + ", or unset "
              + URL_VARIABLE + " to start a throwaway server from the machine's PostgreSQL binaries");
      atExit("drop-test-databases", server::dropCreatedDatabases);
      return server;
    }
    LocalPostgresCluster cluster = LocalPostgresCluster.start(
        LocalPostgresCluster.findBinDir(LocalPostgresCluster.DEBIAN_VERSIONS, "pg_config"),
        LocalPostgresCluster.freeLoopbackPort());
    atExit("stop-test-postgres", cluster::close);
    return cluster.server();
  }

  private static void atExit(String name, Runnable cleanup) {
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        cleanup.run();
      } catch (RuntimeException e) {
        // The tests have finished: what is left to say is what could not be cleaned up.
        System.err.println(e.getMessage());
      }
    }, name));
  }
}
