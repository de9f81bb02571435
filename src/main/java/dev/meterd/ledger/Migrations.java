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
      "V007__holds.sql", "V008__currency.sql", "V009__wallet_txn.sql", "V010__ledger_generation.sql",
      "V011__node_leases.sql", "V012__consumed_segments.sql");

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
    engine.inUpgrade(conn, () -> {
      // Another process may have applied it while this one waited for the lock.
      if (currentVersion(conn) >= version) {
        return;
      }
      try (Statement st = conn.createStatement()) {
        for (String sql : statements) {
          st.execute(sql);
        }
        st.execute("INSERT INTO schema_version (version, applied_at) VALUES (" + version + ", '"
            + Instant.now() + "')");
      }
    });
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
      if (current.length() == 0 && line.toUpperCase(Locale.ROOT).startsWith(engine.bodyStart())) {
        inBody = true;
      }
      current.append(raw).append('\n');
      boolean ends = inBody ? line.equalsIgnoreCase(engine.bodyEnd()) : line.endsWith(";");
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

}
