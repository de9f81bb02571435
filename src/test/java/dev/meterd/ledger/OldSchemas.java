package dev.meterd.ledger;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.sql.Statement;

/** Ledgers as an earlier meterd left them, to test the upgrade from them. */
final class OldSchemas {

  private OldSchemas() {}

  /**
   * Creates the schema of {@code version} on an empty database: the released scripts up to it,
   * each recorded in schema_version as Migrations records it.
   */
  static void create(Statement st, int version) throws Exception {
    st.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)");
    for (int v = 1; v <= version; v++) {
      String script;
      try (InputStream in = OldSchemas.class.getResourceAsStream("/db/" + Migrations.SCRIPTS.get(v - 1))) {
        script = new String(in.readAllBytes(), StandardCharsets.UTF_8);
      }
      for (String sql : Migrations.statements(script)) {
        st.execute(sql);
      }
      st.execute("INSERT INTO schema_version (version, applied_at) VALUES (" + v + ", 'then')");
    }
  }
}
