package dev.meterd.testing;

import dev.meterd.testing.TestPostgres.Database;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A PostgreSQL server the tests may create databases on, reached through {@code adminJdbcUrl} as a
 * user allowed to CREATE DATABASE; each test gets a database of its own.
 */
final class PostgresServer {

  /** {@code jdbc:postgresql://host[:port][,host2...]}, then an optional {@code /database}, then parameters. */
  private static final Pattern JDBC_URL = Pattern.compile("(jdbc:postgresql://[^/?]*)(/[^?]*)?(\\?.*)?");

  private final String adminJdbcUrl;
  private final String user;
  private final String password;
  /** Which server, for errors (e.g. "the server of METERD_TEST_PG_URL jdbc:postgresql://db:5432/postgres"). */
  private final String description;
  /** What to do when a database cannot be created there, for errors. */
  private final String remedy;
  private final List<String> created = new CopyOnWriteArrayList<>();

  PostgresServer(String adminJdbcUrl, String user, String password, String description, String remedy) {
    if (!JDBC_URL.matcher(adminJdbcUrl).matches()) {
      throw new IllegalStateException("Expected a JDBC URL of the form jdbc:postgresql://host:port/database for "
          + description + "; " + remedy + ".");
    }
    this.adminJdbcUrl = adminJdbcUrl;
    this.user = user;
    this.password = password;
    this.description = description;
    this.remedy = remedy;
  }

  /** A new, empty database with a name no other test has, as the server's user. */
  Database freshDatabase() {
    String name = "meterd_test_" + UUID.randomUUID().toString().replace("-", "");
    execute("CREATE DATABASE " + name, "create a test database");
    created.add(name);
    return new Database(withDatabase(adminJdbcUrl, name), user, password);
  }

  /** Drops the databases this JVM created, cutting their connections (a server that outlives the tests). */
  void dropCreatedDatabases() {
    for (String name : created) {
      execute("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)", "drop the test database " + name);
    }
    created.clear();
  }

  private void execute(String sql, String what) {
    try (Connection c = DriverManager.getConnection(adminJdbcUrl, user, password);
        Statement s = c.createStatement()) {
      s.execute(sql);
    } catch (SQLException e) {
      throw new IllegalStateException("Could not " + what + " on " + description + ": " + e.getMessage()
          + "; " + remedy + ".", e);
    }
  }

  /** The same server and parameters, with {@code database} in place of the URL's database. */
  static String withDatabase(String jdbcUrl, String database) {
    Matcher m = JDBC_URL.matcher(jdbcUrl);
    if (!m.matches()) {
      throw new IllegalArgumentException("Not a JDBC URL of the form jdbc:postgresql://host:port/database: "
          + jdbcUrl);
    }
    return m.group(1) + "/" + database + (m.group(3) == null ? "" : m.group(3));
  }
}
