package dev.meterd.cli;

import static dev.meterd.testing.UsageRepo.HOUR_10;
import static dev.meterd.testing.UsageRepo.batch;
import static dev.meterd.testing.UsageRepo.record;
import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.testing.TestPostgres;
import dev.meterd.testing.UsageRepo;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The command line on PostgreSQL ({@code [storage] kind = "postgres"}, the password from
 * METERD_DB_PASSWORD): the same commands print the same as on SQLite for the same repository;
 * the password appears in nothing meterd prints, a wrong one and an unreachable server fail with
 * exit 3 naming the database and the user; and the configuration is refused where it would put
 * the password in a file, or where --db contradicts it.
 */
class PostgresCommandsIT {

  private static final String JAVA = Path.of(System.getProperty("java.home"), "bin", "java").toString();
  private static final String WRONG_PASSWORD = "wrong-password-5d1e0b";

  @TempDir
  Path tmp;

  private UsageRepo repo;
  private final TestPostgres.Database db = TestPostgres.freshDatabase();

  @BeforeEach
  void setUp() throws Exception {
    repo = new UsageRepo(tmp.resolve("usage.git"));
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 10), record("a2", "u2", 20)),
        "nodes/B/" + HOUR_10, batch(record("b1", "u1", 5)),
        "nodes/C/" + HOUR_10, "schema = 1\n[[records]]\nidempotency_key = \"c1\"\n");
  }

  @AfterEach
  void tearDown() {
    repo.close();
  }

  private Path postgresConfig(String url) throws Exception {
    return Files.writeString(tmp.resolve("pg.toml"), """
        [storage]
        kind = "postgres"
        url = "%s"
        user = "%s"
        """.formatted(url, db.user()));
  }

  private Map<String, String> password() {
    return Map.of("METERD_DB_PASSWORD", db.password());
  }

  /** The commands of an operator's first hour, each as {@code meterd} runs it. */
  private static final List<List<String>> SESSION = List.of(
      List.of("wallet", "grant", "u1", "1000", "--by", "alice", "--note", "welcome"),
      List.of("wallet", "grant", "u2", "500", "--by", "alice"),
      List.of("aggregate", "--once"),
      List.of("status"),
      List.of("wallet", "show", "u1"),
      List.of("wallet", "list"),
      List.of("node", "resume", "C"),
      List.of("aggregate", "--once"),
      List.of("verify"));

  private List<String> session(Map<String, String> env, String... storage) {
    List<String> printed = new ArrayList<>();
    for (List<String> command : SESSION) {
      List<String> args = new ArrayList<>(command);
      args.addAll(List.of(storage));
      args.addAll(List.of("--source", repo.dir().toString()));
      CliRun run = CliRun.withEnv(env, args.toArray(String[]::new));
      printed.add(String.join(" ", command) + " -> exit " + run.code() + "\n" + timeless(run.out()) + "\n"
          + timeless(run.err()));
    }
    return printed;
  }

  /** Output with what differs from one run to the next (times, run ids, durations) blanked. */
  private static String timeless(String text) {
    return text.replaceAll("\"\\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z\"", "\"<time>\"")
        .replaceAll("\"run_id\":\"r-[0-9a-z-]+\"", "\"run_id\":\"<run>\"")
        .replaceAll("\"duration_ms\":\\d+", "\"duration_ms\":0");
  }

  @Test
  void theCommandsPrintTheSameOnPostgresAsOnSqlite() throws Exception {
    List<String> sqlite = session(Map.of(), "--db", tmp.resolve("meterd.db").toString());
    List<String> postgres = session(password(), "--config", postgresConfig(db.jdbcUrl()).toString());

    assertThat(postgres).isEqualTo(sqlite);
    // What the session did, so that the comparison is of something.
    assertThat(sqlite.get(2)).startsWith("aggregate --once -> exit 1\n").contains("\"records_consumed\":3",
        "\"debited_cents\":35", "\"node\":\"C\"");
    assertThat(sqlite.get(4)).contains("\"balance_cents\":985");
    assertThat(sqlite.get(8)).startsWith("verify -> exit 0\n{\"ok\":true,\"violations\":[]}");
  }

  @Test
  void dbNamingASqliteFileBesideAPostgresConfigurationIsAUsageError() throws Exception {
    Path config = postgresConfig(db.jdbcUrl());
    CliRun run = CliRun.withEnv(password(), "status", "--config", config.toString(), "--db",
        tmp.resolve("meterd.db").toString());

    assertThat(run.code()).isEqualTo(ExitCodes.USAGE);
    assertThat(run.err()).isEqualTo("meterd: --db names a SQLite database file, but the configuration " + config
        + " has [storage] kind = \"postgres\"; drop --db, or use a configuration of kind \"sqlite\"\n");
    assertThat(run.out()).isEmpty();
    assertThat(tmp.resolve("meterd.db")).doesNotExist();
  }

  @Test
  void aPasswordInTheConfigurationIsRefusedWithoutQuotingIt() throws Exception {
    Path config = Files.writeString(tmp.resolve("pg.toml"), """
        [storage]
        kind = "postgres"
        url = "%s"
        user = "%s"
        password = "%s"
        """.formatted(db.jdbcUrl(), db.user(), db.password()));
    CliRun run = CliRun.withEnv(Map.of(), "status", "--config", config.toString());

    assertThat(run.code()).isEqualTo(ExitCodes.USAGE);
    assertThat(run.err()).isEqualTo("meterd: invalid configuration " + config + ":\n  storage.password is not read "
        + "from the configuration file: remove it, and give the database password in the environment variable "
        + "METERD_DB_PASSWORD\n");
  }

  /** The jar, as an operator runs it: everything it prints, logs included, on one stream. */
  private Jar jar(Map<String, String> env, String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(JAVA, "-jar", Path.of("target", "meterd.jar").toAbsolutePath()
        .toString()));
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    pb.environment().remove("METERD_DB_PASSWORD");
    pb.environment().putAll(env);
    Process p = pb.start();
    String printed = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
    return new Jar(p.exitValue(), printed);
  }

  private record Jar(int code, String printed) {}

  @Test
  void theJarOnPostgresPrintsNoPasswordWhenItWorksNorWhenTheServerRefusesIt() throws Exception {
    Path config = postgresConfig(db.jdbcUrl());
    Jar run = jar(password(), "aggregate", "--once", "--config", config.toString(), "--source", repo.dir().toString());
    assertThat(run.code()).as(run.printed()).isEqualTo(ExitCodes.HALTED_OR_NOT_FOUND);
    assertThat(run.printed()).contains("\"records_consumed\":3").doesNotContain(db.password());

    Jar refused = jar(Map.of("METERD_DB_PASSWORD", WRONG_PASSWORD), "status", "--config", config.toString());
    assertThat(refused.code()).isEqualTo(ExitCodes.UNAVAILABLE);
    assertThat(refused.printed()).isEqualTo("meterd: cannot open the database " + db.jdbcUrl() + " as user "
        + db.user() + ": FATAL: password authentication failed for user \"" + db.user() + "\"; check storage.user "
        + "and the password in METERD_DB_PASSWORD; no node was half applied (nodes committed before stay committed), "
        + "fix the cause and run again\n");
    assertThat(refused.printed()).doesNotContain(WRONG_PASSWORD);
  }

  @Test
  void theJarAgainstAnUnreachableServerNamesTheDatabaseAndTheUserAndNoPassword() throws Exception {
    int port;
    try (java.net.ServerSocket probe = new java.net.ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
      port = probe.getLocalPort();
    }
    String url = "jdbc:postgresql://127.0.0.1:" + port + "/meterd";
    Path config = postgresConfig(url);
    Jar run = jar(Map.of("METERD_DB_PASSWORD", WRONG_PASSWORD), "wallet", "grant", "u1", "5", "--by", "alice",
        "--config", config.toString());

    assertThat(run.code()).isEqualTo(ExitCodes.UNAVAILABLE);
    assertThat(run.printed()).isEqualTo("meterd: cannot open the database " + url + " as user " + db.user()
        + ": Connection to 127.0.0.1:" + port + " refused. Check that the hostname and port are correct and that the "
        + "postmaster is accepting TCP/IP connections.; check that PostgreSQL is running and reachable; no node was "
        + "half applied (nodes committed before stay committed), fix the cause and run again\n");
  }
}
