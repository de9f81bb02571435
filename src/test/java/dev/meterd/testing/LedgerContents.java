package dev.meterd.testing;

import dev.meterd.ledger.Ledger;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

/** What tests read back from a ledger to assert on. */
public final class LedgerContents {

  private LedgerContents() {}

  /** The keys of a node's consumed records, in key order. */
  public static List<String> consumedKeys(Ledger ledger, String node) {
    List<String> keys = new ArrayList<>();
    ledger.audit().forEachConsumed(node, c -> keys.add(c.key()));
    return keys;
  }

  /** Runs one statement on the database file behind the ledger's back, as a test that tampers with it does. */
  public static void exec(Path db, String sql) throws SQLException {
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db); Statement st = c.createStatement()) {
      st.execute(sql);
    }
  }
}
