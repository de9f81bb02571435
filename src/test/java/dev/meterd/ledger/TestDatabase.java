package dev.meterd.ledger;

import dev.meterd.config.MeterdConfig;
import dev.meterd.policy.CreditRules;
import dev.meterd.testing.TestPostgres;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * One test's database, of either {@link LedgerEngine}: opens as many ledgers on it as the test
 * needs (each its own connections, as a second process would), gives plain JDBC beside them, and
 * spells what the tests do behind the ledger's back (take its write lock, refuse inserts, lift an
 * append-only trigger) as the engine does.
 */
public abstract class TestDatabase {

  private TestDatabase() {}

  /** A new ledger on this database, of cents of {@value SqliteLedger#DEFAULT_CURRENCY}, with the default rules. */
  public final SqliteLedger open(Clock clock) {
    return open(clock, SqliteLedger.DEFAULT_BUSY_TIMEOUT_MS);
  }

  /** As {@link #open(Clock)}, with a write waiting at most {@code lockWaitMs} for another writer. */
  public final SqliteLedger open(Clock clock, int lockWaitMs) {
    return open(clock, lockWaitMs, CreditRules.DEFAULT, SqliteLedger.DEFAULT_CURRENCY);
  }

  /** A new ledger on this database, as the daemon opens it with these settings. */
  public abstract SqliteLedger open(Clock clock, int lockWaitMs, CreditRules rules, String currency);

  /** A plain connection to this database in autocommit mode, beside the ledgers'. */
  public abstract Connection jdbc() throws SQLException;

  /** What the ledger's messages call this database: the file as given, or the JDBC URL. */
  public abstract String where();

  abstract Engine engine();

  /**
   * The keys of meterd's {@code [storage]} section that name this database, one {@code key = value}
   * a line, for a configuration a meterd process (or command) opens it by.
   */
  public abstract String storageConfig();

  /** What a meterd process on this database needs in its environment: the password, on PostgreSQL. */
  public abstract Map<String, String> environment();

  /**
   * Makes the node leases of the meterd process {@code pid}, killed by the test, lapse now, as
   * they would once their term ran out: nothing on SQLite, where a process holds no lease and its
   * run lock ended with it; on PostgreSQL the leases' expiry moves into the past (the database's
   * clock decides a lapse, and the tests do not wait out a term).
   */
  public abstract void lapseLeasesOf(long pid) throws SQLException;

  /** Runs one statement on a connection of its own, as a test that tampers with the database does. */
  public final void exec(String sql) throws SQLException {
    try (Connection c = jdbc(); Statement st = c.createStatement()) {
      st.execute(sql);
    }
  }

  /** The first column of every row {@code sql} answers, as text, in the order answered. */
  public final List<String> column(String sql) throws SQLException {
    List<String> values = new ArrayList<>();
    try (Connection c = jdbc(); Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
      while (rs.next()) {
        values.add(rs.getString(1));
      }
    }
    return values;
  }

  /** The one number {@code sql} answers, such as a {@code count(*)}. */
  public final long number(String sql) throws SQLException {
    List<String> values = column(sql);
    if (values.size() != 1) {
      throw new IllegalStateException("expected one row from " + sql + ", got " + values);
    }
    return Long.parseLong(values.get(0));
  }

  /** Whether the database has the table {@code name}. */
  public final boolean hasTable(String name) throws SQLException {
    try (Connection c = jdbc()) {
      return engine().hasTable(c, name);
    }
  }

  /**
   * Everything a write to the database would change, to compare before and after something that
   * must write nothing: the file's bytes and its companions on SQLite; every row of every table on
   * PostgreSQL (whose files the server shares among its databases).
   */
  public abstract List<String> contents() throws Exception;

  /**
   * Takes the ledger's write lock on {@code st}'s connection without waiting: throws if another
   * connection holds it. {@link #releaseWriteLock} ends it.
   */
  public abstract void takeWriteLock(Statement st) throws SQLException;

  public final void releaseWriteLock(Statement st) throws SQLException {
    st.execute("ROLLBACK");
  }

  /**
   * Makes every INSERT into {@code table} (or those whose new row meets {@code when}, a condition
   * on {@code NEW}) fail with "disk says no", by a trigger named {@code name}.
   */
  public abstract void refuseInserts(Statement st, String name, String table, String when) throws SQLException;

  public abstract void allowInserts(Statement st, String name, String table) throws SQLException;

  /** What the engine says when a CHECK constraint refuses a row. */
  public abstract String checkRefusal();

  /** Lets {@code st}'s connection change the rows an append-only {@code trigger} guards. */
  public abstract void allowTampering(Statement st, String trigger) throws SQLException;

  /** Makes the database refuse to open the wallet of {@code userSid}; returns what its refusal says. */
  public abstract String refuseWallet(Statement st, String userSid) throws SQLException;

  /** A SQLite file; its ledgers take the run lock in the file beside it. */
  static final class SqliteFile extends TestDatabase {

    private final Path file;
    /** The consumed-record index's bounds its ledgers use ({@link SqliteLedger#consumedIndexBounds}), or null for the defaults. */
    private final int[] indexBounds;

    SqliteFile(Path file) {
      this(file, null);
    }

    /** {@code indexBounds}: the newest level's rows, the merges' fan-in and chunk, or null for the defaults. */
    SqliteFile(Path file, int[] indexBounds) {
      if (Files.exists(file)) {
        throw new IllegalArgumentException("the test database " + file + " exists already; give each a name of its own");
      }
      this.file = file;
      this.indexBounds = indexBounds;
    }

    /** The database's file. */
    Path file() {
      return file;
    }

    @Override
    public SqliteLedger open(Clock clock, int lockWaitMs, CreditRules rules, String currency) {
      SqliteLedger ledger = SqliteLedger.open(file, clock, lockWaitMs, rules, currency);
      return indexBounds == null ? ledger : ledger.consumedIndexBounds(indexBounds[0], indexBounds[1], indexBounds[2]);
    }

    @Override
    public Connection jdbc() throws SQLException {
      return DriverManager.getConnection("jdbc:sqlite:" + file);
    }

    @Override
    public String where() {
      return file.toString();
    }

    @Override
    Engine engine() {
      return Engine.SQLITE;
    }

    @Override
    public String storageConfig() {
      return "path = \"" + file + "\"";
    }

    @Override
    public Map<String, String> environment() {
      return Map.of();
    }

    @Override
    public void lapseLeasesOf(long pid) {
      // A process on SQLite holds no lease: the run lock in the file beside it ended with it.
    }

    /** Each file of the database (itself, its WAL, its shared memory, its run lock) by name and digest. */
    @Override
    public List<String> contents() throws IOException, NoSuchAlgorithmException {
      List<String> files = new ArrayList<>();
      String prefix = file.getFileName().toString();
      try (var list = Files.list(file.toAbsolutePath().getParent())) {
        for (Path f : list.filter(f -> f.getFileName().toString().startsWith(prefix)).sorted().toList()) {
          byte[] digest = MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(f));
          files.add(f.getFileName() + " " + HexFormat.of().formatHex(digest));
        }
      }
      return files;
    }

    /** BEGIN IMMEDIATE with no busy timeout: fails at once while another connection writes. */
    @Override
    public void takeWriteLock(Statement st) throws SQLException {
      st.execute("PRAGMA busy_timeout = 0");
      st.execute("BEGIN IMMEDIATE");
    }

    @Override
    public void refuseInserts(Statement st, String name, String table, String when) throws SQLException {
      st.execute("CREATE TRIGGER " + name + " BEFORE INSERT ON " + table + (when == null ? "" : " WHEN " + when)
          + " BEGIN SELECT RAISE(ABORT, 'disk says no'); END");
    }

    @Override
    public void allowInserts(Statement st, String name, String table) throws SQLException {
      st.execute("DROP TRIGGER " + name);
    }

    @Override
    public String checkRefusal() {
      return "CHECK constraint failed";
    }

    @Override
    public void allowTampering(Statement st, String trigger) throws SQLException {
      st.execute("DROP TRIGGER " + trigger);
    }

    @Override
    public String refuseWallet(Statement st, String userSid) throws SQLException {
      st.execute("CREATE TRIGGER refuse_wallet BEFORE INSERT ON wallet WHEN NEW.user_sid = '" + userSid + "' "
          + "BEGIN SELECT RAISE(ABORT, 'no wallet for " + userSid + "'); END");
      return "no wallet for " + userSid;
    }
  }

  /** A database of its own on the test JVM's PostgreSQL server. */
  static final class Postgres extends TestDatabase {

    private final TestPostgres.Database db;

    Postgres(TestPostgres.Database db) {
      this.db = db;
    }

    @Override
    public SqliteLedger open(Clock clock, int lockWaitMs, CreditRules rules, String currency) {
      return PostgresLedger.open(db.jdbcUrl(), db.user(), db.password(), clock, lockWaitMs, rules, currency);
    }

    @Override
    public Connection jdbc() throws SQLException {
      return DriverManager.getConnection(db.jdbcUrl(), db.user(), db.password());
    }

    @Override
    public String where() {
      return db.jdbcUrl();
    }

    @Override
    Engine engine() {
      return Engine.POSTGRES;
    }

    @Override
    public String storageConfig() {
      return "kind = \"postgres\"\nurl = \"" + db.jdbcUrl() + "\"\nuser = \"" + db.user() + "\"";
    }

    @Override
    public Map<String, String> environment() {
      return Map.of(MeterdConfig.Postgres.PASSWORD_ENV, db.password());
    }

    /** A holder's name is its host, its process id and a random tail, separated by slashes. */
    @Override
    public void lapseLeasesOf(long pid) throws SQLException {
      try (Connection c = jdbc();
          PreparedStatement ps = c.prepareStatement(
              "UPDATE node_lease SET expires_at_ms = 0 WHERE holder LIKE '%/' || ? || '/%'")) {
        ps.setString(1, Long.toString(pid));
        ps.executeUpdate();
      }
    }

    /** Every row of every table of the schema, as PostgreSQL spells a row, table by table in name order. */
    @Override
    public List<String> contents() throws SQLException {
      List<String> rows = new ArrayList<>();
      for (String table : column("SELECT table_name FROM information_schema.tables WHERE table_schema = "
          + "current_schema() ORDER BY table_name COLLATE \"C\"")) {
        rows.add("table " + table);
        List<String> tableRows = column("SELECT CAST(t AS TEXT) FROM " + table + " t");
        java.util.Collections.sort(tableRows);
        rows.addAll(tableRows);
      }
      return rows;
    }

    /** A transaction holding the advisory lock every write of the ledger takes, if it is free now. */
    @Override
    public void takeWriteLock(Statement st) throws SQLException {
      st.execute("BEGIN");
      try (ResultSet rs = st.executeQuery("SELECT pg_try_advisory_xact_lock(" + Engine.WRITE_LOCK_KEY + ")")) {
        rs.next();
        if (!rs.getBoolean(1)) {
          throw new SQLException("another connection holds the ledger's write lock");
        }
      }
    }

    @Override
    public void refuseInserts(Statement st, String name, String table, String when) throws SQLException {
      st.execute("CREATE FUNCTION " + name + "() RETURNS trigger LANGUAGE plpgsql AS "
          + "$$ BEGIN RAISE EXCEPTION 'disk says no'; END $$");
      st.execute("CREATE TRIGGER " + name + " BEFORE INSERT ON " + table + " FOR EACH ROW"
          + (when == null ? "" : " WHEN (" + when + ")") + " EXECUTE FUNCTION " + name + "()");
    }

    @Override
    public void allowInserts(Statement st, String name, String table) throws SQLException {
      st.execute("DROP TRIGGER " + name + " ON " + table);
    }

    @Override
    public String checkRefusal() {
      return "violates check constraint";
    }

    /** The session's triggers (and foreign keys) stop firing, as they do for a replica applying changes. */
    @Override
    public void allowTampering(Statement st, String trigger) throws SQLException {
      st.execute("SET session_replication_role = replica");
    }

    @Override
    public String refuseWallet(Statement st, String userSid) throws SQLException {
      st.execute("ALTER TABLE wallet ADD CONSTRAINT refuse_wallet CHECK (user_sid <> '" + userSid + "')");
      return "violates check constraint \"refuse_wallet\"";
    }
  }
}
