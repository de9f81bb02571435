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

/**
 * Creates and upgrades the schema from the numbered scripts under {@code db/} in the jar.
 * Released scripts are never edited; a change is a new script. A database of a newer schema
 * than this build knows is refused, never downgraded.
 */
final class Migrations {

  /** Every script, in order; the version of each is its position, from 1. */
  static final List<String> SCRIPTS = List.of("V001__ledger.sql", "V002__run_mark_generation.sql",
      "V003__idempotency.sql", "V004__wallet_policies.sql", "V005__payments.sql", "V006__outbox.sql",
      "V007__holds.sql", "V008__currency.sql", "V009__wallet_txn.sql");

  private Migrations() {}

  static int latestVersion() {
    return SCRIPTS.size();
  }

  /** Brings the schema to the latest version; returns the version found before. */
  static int upgrade(Connection conn, String where) throws SQLException {
    try (Statement st = conn.createStatement()) {
      st.execute("CREATE TABLE IF NOT EXISTS schema_version ("
          + "version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)");
    }
    int current = currentVersion(conn);
    if (current > latestVersion()) {
      throw new LedgerException("the database " + where + " has schema version " + current
          + ", newer than this meterd knows (" + latestVersion() + "); run a newer meterd against it");
    }
    for (int version = current + 1; version <= latestVersion(); version++) {
      apply(conn, version, statements(read(SCRIPTS.get(version - 1))));
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

  private static void apply(Connection conn, int version, List<String> statements) throws SQLException {
    SqliteTransactions.beginImmediate(conn);
    try (Statement st = conn.createStatement()) {
      // Another process may have applied it while this one waited for the write lock.
      if (currentVersion(conn) >= version) {
        SqliteTransactions.rollback(conn, null);
        return;
      }
      for (String sql : statements) {
        st.execute(sql);
      }
      st.execute("INSERT INTO schema_version (version, applied_at) VALUES (" + version + ", '"
          + Instant.now() + "')");
    } catch (SQLException | RuntimeException | Error e) {
      SqliteTransactions.rollback(conn, e);
      throw e;
    }
    SqliteTransactions.commit(conn);
  }

  private static String read(String script) {
    try (InputStream in = Migrations.class.getResourceAsStream("/db/" + script)) {
      if (in == null) {
        throw new IllegalStateException("migration db/" + script + " is missing from the jar");
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new IllegalStateException("cannot read migration db/" + script, e);
    }
  }

  /**
   * Splits a script into statements: each ends with a line ending in ';', except inside a
   * trigger body, which ends with {@code END;}.
   */
  static List<String> statements(String script) {
    List<String> result = new ArrayList<>();
    StringBuilder current = new StringBuilder();
    boolean inTrigger = false;
    for (String raw : script.split("\n")) {
      String line = raw.strip();
      if (line.isEmpty() || line.startsWith("--")) {
        continue;
      }
      if (current.length() == 0 && line.toUpperCase(java.util.Locale.ROOT).startsWith("CREATE TRIGGER")) {
        inTrigger = true;
      }
      current.append(raw).append('\n');
      boolean ends = inTrigger ? line.equalsIgnoreCase("END;") : line.endsWith(";");
      if (ends) {
        result.add(current.toString());
        current.setLength(0);
        inTrigger = false;
      }
    }
    if (current.length() > 0) {
      throw new IllegalStateException("migration script ends inside a statement: " + current);
    }
    return result;
  }
}
