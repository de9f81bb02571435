package dev.meterd.ledger;

import java.sql.Statement;

/** Ledgers as an earlier meterd left them, to test the upgrade from them. */
final class OldSchemas {

  private OldSchemas() {}

  /** {@link #create(Statement, Engine, int)} on SQLite. */
  static void create(Statement st, int version) throws Exception {
    create(st, Engine.SQLITE, version);
  }

  /**
   * Creates the schema of {@code version} on an empty database of {@code engine}: the released
   * scripts up to it, each recorded in schema_version as Migrations records it. On PostgreSQL the
   * statement must be in autocommit mode.
   */
  static void create(Statement st, Engine engine, int version) throws Exception {
    st.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)");
    for (int v = 1; v <= version; v++) {
      for (String sql : Migrations.statements(Migrations.script(engine, v), engine)) {
        st.execute(sql);
      }
      st.execute("INSERT INTO schema_version (version, applied_at) VALUES (" + v + ", 'then')");
    }
  }
}
