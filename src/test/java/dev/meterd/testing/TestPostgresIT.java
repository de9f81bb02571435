package dev.meterd.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meterd.testing.TestPostgres.Database;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.DisabledIfEnvironmentVariable;
import org.junit.jupiter.api.io.TempDir;

class TestPostgresIT {

  @Test
  void freshDatabasesAreDistinctAndEmpty() throws SQLException {
    Database first = TestPostgres.freshDatabase();
    Database second = TestPostgres.freshDatabase();

    String firstName = firstColumn(first, "SELECT current_database()").get(0);
    String secondName = firstColumn(second, "SELECT current_database()").get(0);
    assertThat(firstName).startsWith("meterd_test_").isNotEqualTo(secondName);
    String userTables = "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        + " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')";
    assertThat(firstColumn(first, userTables)).containsExactly("0");
    assertThat(firstColumn(second, userTables)).containsExactly("0");
  }

  @Test
  void rowWrittenInOneDatabaseIsReadBackExactlyAndAbsentFromTheOther() throws SQLException {
    Database written = TestPostgres.freshDatabase();
    Database other = TestPostgres.freshDatabase();
    try (Connection c = connect(written); Statement s = c.createStatement()) {
      s.execute("CREATE TABLE wallet (id text PRIMARY KEY, balance_cents bigint NOT NULL)");
      s.execute("INSERT INTO wallet VALUES ('acme', 9223372036854775807)");
    }

    assertThat(firstColumn(written, "SELECT id || ' ' || balance_cents FROM wallet"))
        .containsExactly("acme 9223372036854775807");
    assertThat(firstColumn(other, "SELECT count(*) FROM pg_tables WHERE tablename = 'wallet'")).containsExactly("0");
  }

  @Test
  void serverIsPostgres15OrNewer() throws SQLException {
    int versionNum = Integer.parseInt(firstColumn(TestPostgres.freshDatabase(), "SHOW server_version_num").get(0));

    assertThat(versionNum).isGreaterThanOrEqualTo(150000);
  }

  @Test
  void urlOfAMissingDatabaseFailsNamingTheServerAndWhatToCheck() {
    Database reachable = TestPostgres.freshDatabase();
    String url = PostgresServer.withDatabase(reachable.jdbcUrl(), "no_such_database");
    PostgresServer server = TestPostgres.serverFor(Map.of(TestPostgres.URL_VARIABLE, url,
        TestPostgres.USER_VARIABLE, reachable.user(), TestPostgres.PASSWORD_VARIABLE, reachable.password()));

    assertThatThrownBy(server::freshDatabase).isInstanceOf(IllegalStateException.class)
        .hasMessage("Could not create a test database on the server of METERD_TEST_PG_URL " + url
            + ": FATAL: database \"no_such_database\" does not exist; check METERD_TEST_PG_URL, METERD_TEST_PG_USER"
            + " and METERD_DB_PASSWORD, or unset METERD_TEST_PG_URL to start a throwaway server from the"
            + " machine's PostgreSQL binaries.");
  }

  @Test
  void urlNotOfJdbcFormIsRefusedBeforeAnyConnection() {
    assertThatThrownBy(() -> TestPostgres.serverFor(Map.of(TestPostgres.URL_VARIABLE, "postgres://db:5432/billing")))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("Expected a JDBC URL of the form jdbc:postgresql://host:port/database for the server of"
            + " METERD_TEST_PG_URL postgres://db:5432/billing; check METERD_TEST_PG_URL, METERD_TEST_PG_USER and"
            + " METERD_DB_PASSWORD, or unset METERD_TEST_PG_URL to start a throwaway server from the machine's"
            + " PostgreSQL binaries.");
  }

  @Test
  void missingBinariesNameWhatToInstallOrSet(@TempDir Path empty) {
    String pgConfig = empty.resolve("pg_config").toString();

    assertThatThrownBy(() -> LocalPostgresCluster.findBinDir(empty, pgConfig))
        .isInstanceOf(IllegalStateException.class)
        .hasMessage("No PostgreSQL server binaries (initdb, pg_ctl) were found in " + empty + "/*/bin or by "
            + pgConfig + " --bindir; install PostgreSQL's server (Debian: apt-get install postgresql) or set"
            + " METERD_TEST_PG_URL to the JDBC URL of a server the tests may create databases on.");
  }

  @Test
  @DisabledIfEnvironmentVariable(named = TestPostgres.URL_VARIABLE, matches = ".+",
      disabledReason = "starts a server from the machine's binaries, which a run against METERD_TEST_PG_URL may lack")
  void failedStartCarriesTheServerLogAndRemovesTheDirectory() throws Exception {
    Path binDir = LocalPostgresCluster.findBinDir(LocalPostgresCluster.DEBIAN_VERSIONS, "pg_config");
    try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {

      assertThatThrownBy(() -> LocalPostgresCluster.start(binDir, taken.getLocalPort()))
          .isInstanceOf(IllegalStateException.class)
          .hasMessageContaining(binDir.resolve("pg_ctl") + " start -D ")
          .hasMessageContaining(" failed with exit code 1: ")
          .hasMessageContaining("could not bind IPv4 address \"127.0.0.1\": Address already in use")
          .hasMessageEndingWith("; fix the cause above or set METERD_TEST_PG_URL to the JDBC URL of a server the"
              + " tests may create databases on.")
          .satisfies(e -> assertThat(Files.exists(clusterDirectory(e.getMessage()))).isFalse());
    }
  }

  private static Path clusterDirectory(String message) {
    Matcher m = Pattern.compile("server log (\\S+)/server\\.log:").matcher(message);
    assertThat(m.find()).as("the message names the server log: %s", message).isTrue();
    return Path.of(m.group(1));
  }

  private static Connection connect(Database db) throws SQLException {
    return DriverManager.getConnection(db.jdbcUrl(), db.user(), db.password());
  }

  /** The first column of every row of {@code sql}, as text. */
  private static List<String> firstColumn(Database db, String sql) throws SQLException {
    try (Connection c = connect(db); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
      List<String> values = new ArrayList<>();
      while (rs.next()) {
        values.add(rs.getString(1));
      }
      return values;
    }
  }
}
