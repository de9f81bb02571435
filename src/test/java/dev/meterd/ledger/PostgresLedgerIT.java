package dev.meterd.ledger;

import dev.meterd.testing.TestPostgres;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

/** The ledger's contract on a throwaway PostgreSQL database of its own for each test. */
class PostgresLedgerIT extends LedgerContractTests {

  private final TestPostgres.Database db = TestPostgres.freshDatabase();

  @Override
  SqliteLedger open() {
    return PostgresLedger.open(db.jdbcUrl(), db.user(), db.password(), clock);
  }

  @Override
  SqliteLedger openWaitingAtMost(int lockWaitMs) {
    return PostgresLedger.open(db.jdbcUrl(), db.user(), db.password(), clock, lockWaitMs, dev.meterd.policy.CreditRules.DEFAULT,
        SqliteLedger.DEFAULT_CURRENCY);
  }

  @Override
  void refuseInserts(Statement st, String name, String table, String when) throws SQLException {
    st.execute("CREATE FUNCTION " + name + "() RETURNS trigger LANGUAGE plpgsql AS "
        + "$$ BEGIN RAISE EXCEPTION 'disk says no'; END $$");
    st.execute("CREATE TRIGGER " + name + " BEFORE INSERT ON " + table + " FOR EACH ROW"
        + (when == null ? "" : " WHEN (" + when + ")") + " EXECUTE FUNCTION " + name + "()");
  }

  @Override
  void allowInserts(Statement st, String name, String table) throws SQLException {
    st.execute("DROP TRIGGER " + name + " ON " + table);
  }

  @Override
  Connection jdbc() throws SQLException {
    return DriverManager.getConnection(db.jdbcUrl(), db.user(), db.password());
  }

  /** A transaction holding the advisory lock every write of the ledger takes, if it is free now. */
  @Override
  void takeWriteLock(Statement st) throws SQLException {
    st.execute("BEGIN");
    try (ResultSet rs = st.executeQuery("SELECT pg_try_advisory_xact_lock(" + Engine.WRITE_LOCK_KEY + ")")) {
      rs.next();
      if (!rs.getBoolean(1)) {
        throw new SQLException("another connection holds the ledger's write lock");
      }
    }
  }

  @Override
  void releaseWriteLock(Statement st) throws SQLException {
    st.execute("ROLLBACK");
  }

  @Override
  String checkRefusal() {
    return "violates check constraint";
  }

  /** The session's triggers (and foreign keys) stop firing, as they do for a replica applying changes. */
  @Override
  void allowTampering(Statement st, String trigger) throws SQLException {
    st.execute("SET session_replication_role = replica");
  }

  @Override
  String refuseWallet(Statement st, String userSid) throws SQLException {
    st.execute("ALTER TABLE wallet ADD CONSTRAINT refuse_wallet CHECK (user_sid <> '" + userSid + "')");
    return "violates check constraint \"refuse_wallet\"";
  }
}
