package dev.meterd.ledger;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Creates and upgrades the schema from the numbered scripts under {@code db/<engine>/} in the jar.
 * Released scripts are never edited; a change is a new script, written for every engine under the
 * same number and name, so that one schema version means the same tables on each. A database of a
 * newer schema than this build knows is refused, never downgraded.
 */
final class Migrations {

  /** Every script, in order; the version of each is its position, from 1. */
  static final List<String> SCRIPTS = List.of("V001__ledger.sql", "V002__run_mark_generation.sql",
      "V003__idempotency.sql", "V004__wallet_policies.sql", "V005__payments.sql", "V006__outbox.sql",
      "V007__holds.sql", "V008__currency.sql", "V009__wallet_txn.sql");

  /** "meterd" in ASCII, then 1: the advisory lock of schema upgrades on PostgreSQL. */
  private static final long POSTGRES_UPGRADE_LOCK_KEY = 0x6d65746572640001L;

  private static final String CREATE_VERSION_TABLE = "CREATE TABLE IF NOT EXISTS schema_version ("
      + "version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)";

  /**
   * What differs between the databases a ledger can live in: where the scripts are, how a
   * migration's transaction begins and ends, and which statement of a script runs over several
   * lines that end in ';' (a body that ends at a line of its own).
   */
  enum Engine {
    /**
     * {@code BEGIN IMMEDIATE} takes the database's one write lock, so of several processes opening
     * the file at once one applies a version and the others find it applied. A trigger's body runs
     * from {@code CREATE TRIGGER} to a line {@code END;}.
     */
    SQLITE("sqlite", "CREATE TRIGGER", "END;") {
      @Override
      void createVersionTable(Connection conn) throws SQLException {
        exec(conn, CREATE_VERSION_TABLE);
      }

      @Override
      void begin(Connection conn) throws SQLException {
        SqliteTransactions.beginImmediate(conn);
      }

      @Override
      void commit(Connection conn) throws SQLException {
        SqliteTransactions.commit(conn);
      }

      @Override
      void rollback(Connection conn, Throwable cause) {
        SqliteTransactions.rollback(conn, cause);
      }
    },

    /**
     * Each transaction first takes a transaction-level advisory lock, which serializes the daemons
     * that upgrade one database at once: the first applies a version, the others wait and then
     * find it applied. It is held exactly as long as the transaction that writes the schema (a
     * lost connection aborts both), and it also guards the creation of schema_version, which
     * concurrent {@code CREATE TABLE IF NOT EXISTS} do not (both may pass the check, and the second
     * fails on a duplicate key in the catalog), and which a {@code LOCK TABLE schema_version} could
     * not guard since the table does not exist yet. A function's body runs from
     * {@code CREATE FUNCTION} to a line {@code $$;}. Expects a connection in autocommit mode, as a
     * pool hands it out, and leaves it so.
     */
    POSTGRES("postgres", "CREATE FUNCTION", "$$;") {
      @Override
      void createVersionTable(Connection conn) throws SQLException {
        begin(conn);
        try {
          exec(conn, CREATE_VERSION_TABLE);
        } catch (SQLException | RuntimeException | Error e) {
          rollback(conn, e);
          throw e;
        }
        commit(conn);
      }

      @Override
      void begin(Connection conn) throws SQLException {
        conn.setAutoCommit(false);
        exec(conn, "SELECT pg_advisory_xact_lock(" + POSTGRES_UPGRADE_LOCK_KEY + ")");
      }

      @Override
      void commit(Connection conn) throws SQLException {
        try {
          conn.commit();
        } catch (SQLException e) {
          rollback(conn, e);
          throw e;
        }
        conn.setAutoCommit(true);
      }

      @Override
      void rollback(Connection conn, Throwable cause) {
        try {
          conn.rollback();
          conn.setAutoCommit(true);
        } catch (SQLException e) {
          if (cause != null) {
            cause.addSuppressed(e);
          }
        }
      }
    };

    private final String folder;
    private final String bodyStart;
    private final String bodyEnd;

    Engine(String folder, String bodyStart, String bodyEnd) {
      this.folder = folder;
      this.bodyStart = bodyStart;
      this.bodyEnd = bodyEnd;
    }

    abstract void createVersionTable(Connection conn) throws SQLException;

    /** Begins the transaction of one version, once no other upgrader of this database is in one. */
    abstract void begin(Connection conn) throws SQLException;

    abstract void commit(Connection conn) throws SQLException;

    /** Rolls back; a failure to do so is added to {@code cause} rather than thrown over it. */
    abstract void rollback(Connection conn, Throwable cause);

    /** The resource path of a script, such as {@code db/sqlite/V001__ledger.sql}. */
    String path(String script) {
      return "db/" + folder + "/" + script;
    }
  }

  private Migrations() {}

  static int latestVersion() {
    return SCRIPTS.size();
  }

  /** Brings the schema to the latest version; returns the version found before. */
  static int upgrade(Connection conn, Engine engine, String where) throws SQLException {
    engine.createVersionTable(conn);
    int current = currentVersion(conn);
    if (current > latestVersion()) {
      throw new LedgerException("the database " + where + " has schema version " + current
          + ", newer than this meterd knows (" + latestVersion() + "); run a newer meterd against it");
    }
    for (int version = current + 1; version <= latestVersion(); version++) {
      apply(conn, engine, version, statements(script(engine, version), engine));
    }
    return current;
  }

  static int currentVersion(Connection conn) throws SQLException {
    try (Statement st = conn.createStatement();
        ResultSet rs = st.executeQuery("SELECT coalesce(max(version), 0) FROM schema_version")) {
      rs.next();
      return rs.getInt(1);
    }
  }

  private static void apply(Connection conn, Engine engine, int version, List<String> statements)
      throws SQLException {
    engine.begin(conn);
    try (Statement st = conn.createStatement()) {
      // Another process may have applied it while this one waited for the lock.
      if (currentVersion(conn) >= version) {
        engine.rollback(conn, null);
        return;
      }
      for (String sql : statements) {
        st.execute(sql);
      }
      st.execute("INSERT INTO schema_version (version, applied_at) VALUES (" + version + ", '"
          + Instant.now() + "')");
    } catch (SQLException | RuntimeException | Error e) {
      engine.rollback(conn, e);
      throw e;
    }
    engine.commit(conn);
  }

  /** The text of the script of {@code version} (from 1) for {@code engine}. */
  static String script(Engine engine, int version) {
    String path = engine.path(SCRIPTS.get(version - 1));
    try (InputStream in = Migrations.class.getResourceAsStream("/" + path)) {
      if (in == null) {
        throw new IllegalStateException("migration " + path + " is missing from the jar");
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new IllegalStateException("cannot read migration " + path, e);
    }
  }

  /**
   * Splits a script into statements: each ends with a line ending in ';', except a body (a
   * statement whose first line starts with the engine's body start), which ends with a line that
   * is the engine's body end: {@code END;} for a SQLite trigger, {@code $$;} for a PostgreSQL
   * function.
   */
  static List<String> statements(String script, Engine engine) {
    List<String> result = new ArrayList<>();
    StringBuilder current = new StringBuilder();
    boolean inBody = false;
    for (String raw : script.split("\n")) {
      String line = raw.strip();
      if (line.isEmpty() || line.startsWith("--")) {
        continue;
      }
      if (current.length() == 0 && line.toUpperCase(Locale.ROOT).startsWith(engine.bodyStart)) {
        inBody = true;
      }
      current.append(raw).append('\n');
      boolean ends = inBody ? line.equalsIgnoreCase(engine.bodyEnd) : line.endsWith(";");
      if (ends) {
        result.add(current.toString());
        current.setLength(0);
        inBody = false;
      }
    }
    if (current.length() > 0) {
      throw new IllegalStateException("migration script ends inside a statement: " + current);
    }
    return result;
  }

  private static void exec(Connection conn, String sql) throws SQLException {
    try (Statement st = conn.createStatement()) {
      st.execute(sql);
    }
  }
}
