package dev.meterd.ledger;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

/**
 * What differs between the databases a ledger can live in, and nothing else: where the schema
 * scripts are and how they split into statements, how a transaction begins and ends, how a
 * connection learns that another one committed, and the few SQL expressions the two spell
 * differently. Every other statement of the store is one text run on either.
 */
enum Engine {
  /**
   * {@code BEGIN IMMEDIATE} takes the database's one write lock, so writers (a migration too)
   * serialize on it. A trigger's body runs from {@code CREATE TRIGGER} to a line {@code END;}.
   * Another connection's commits are told by {@code PRAGMA data_version}.
   */
  SQLITE("sqlite", "CREATE TRIGGER", "END;", "[storage] path") {
    @Override
    void createVersionTable(Connection conn) throws SQLException {
      exec(conn, CREATE_VERSION_TABLE);
    }

    @Override
    void beginUpgrade(Connection conn) throws SQLException {
      SqliteTransactions.beginImmediate(conn);
    }

    @Override
    void beginWrite(Connection conn) throws SQLException {
      SqliteTransactions.beginImmediate(conn);
    }

    @Override
    void beginRead(Connection conn) throws SQLException {
      SqliteTransactions.beginRead(conn);
    }

    @Override
    void commit(Connection conn) throws SQLException {
      SqliteTransactions.commit(conn);
    }

    @Override
    void rollback(Connection conn, Throwable cause) {
      SqliteTransactions.rollback(conn, cause);
    }

    @Override
    String commitCounter() {
      return "PRAGMA data_version";
    }

    @Override
    boolean countsOwnCommits() {
      return false;
    }

    @Override
    String dayOf(String column) {
      return "date((" + column + " - ((" + column + " % 86400000) + 86400000) % 86400000) / 1000, 'unixepoch')";
    }

    @Override
    String mondayOf(String day) {
      return "date(" + day + ", '-6 days', 'weekday 1')";
    }

    @Override
    String firstOfMonth(String day) {
      return "strftime('%Y-%m-01', " + day + ")";
    }

    @Override
    String inByteOrder(String column) {
      return column;
    }

    @Override
    boolean hasTable(Connection conn, String table) throws SQLException {
      return exists(conn, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", table);
    }
  },

  /**
   * Each write transaction first takes a transaction-level advisory lock, {@link #WRITE_LOCK_KEY}
   * for the ledger's writes and {@link #UPGRADE_LOCK_KEY} for schema upgrades: writes are then one
   * at a time as on SQLite, which the ledger needs (each ledger row's hash chains to the row
   * before it, and meterd allocates the next txn id itself), and the daemons that upgrade one
   * database at once apply each version once. The upgrade lock also guards the creation of
   * schema_version, which concurrent {@code CREATE TABLE IF NOT EXISTS} do not (both may pass the
   * check, and the second fails on a duplicate key in the catalog). A function's body runs from
   * {@code CREATE FUNCTION} to a line {@code $$;}. PostgreSQL has no data_version: every write
   * transaction adds one to {@code ledger_generation} (see {@link SqliteDb#dataVersion}).
   */
  POSTGRES("postgres", "CREATE FUNCTION", "$$;", "[storage] url") {
    @Override
    void createVersionTable(Connection conn) throws SQLException {
      // Only when missing: a read-only database (default_transaction_read_only, a standby)
      // refuses even CREATE TABLE IF NOT EXISTS of a table it has, and the commands that only
      // read (verify, status) open it as they open a read-only SQLite file.
      if (!hasTable(conn, "schema_version")) {
        inUpgrade(conn, () -> exec(conn, CREATE_VERSION_TABLE));
      }
    }

    @Override
    void beginUpgrade(Connection conn) throws SQLException {
      PostgresTransactions.beginLocked(conn, UPGRADE_LOCK_KEY);
      // And the write lock: a version that moves rows must not run beside a write of a daemon
      // still running the version before (on SQLite, BEGIN IMMEDIATE is both).
      PostgresTransactions.lockAlso(conn, WRITE_LOCK_KEY);
    }

    @Override
    void beginWrite(Connection conn) throws SQLException {
      PostgresTransactions.beginLocked(conn, WRITE_LOCK_KEY);
    }

    @Override
    void beginRead(Connection conn) throws SQLException {
      PostgresTransactions.beginRead(conn);
    }

    @Override
    void commit(Connection conn) throws SQLException {
      PostgresTransactions.commit(conn);
    }

    @Override
    void rollback(Connection conn, Throwable cause) {
      PostgresTransactions.rollback(conn, cause);
    }

    @Override
    String commitCounter() {
      return "SELECT generation FROM ledger_generation WHERE id = 1";
    }

    @Override
    boolean countsOwnCommits() {
      return true;
    }

    @Override
    String dayOf(String column) {
      return "to_char(DATE '1970-01-01' + CAST(" + floorDays(column) + " AS INTEGER), 'YYYY-MM-DD')";
    }

    @Override
    String mondayOf(String day) {
      String date = "CAST(" + day + " AS DATE)";
      return "to_char(" + date + " - (CAST(extract(isodow FROM " + date + ") AS INTEGER) - 1), 'YYYY-MM-DD')";
    }

    @Override
    String firstOfMonth(String day) {
      return "substr(" + day + ", 1, 7) || '-01'";
    }

    @Override
    String inByteOrder(String column) {
      return column + " COLLATE \"C\"";
    }

    @Override
    boolean hasTable(Connection conn, String table) throws SQLException {
      return exists(conn, "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() "
          + "AND table_name = ?", table);
    }
  };

  /**
   * {@code e}'s message on one line: PostgreSQL's driver adds lines for where in a function the
   * server raised it, and for its detail; the detail stays, in parentheses, the rest goes. (SQLite's
   * messages are one line already.)
   */
  static String oneLine(SQLException e) {
    if (e instanceof org.postgresql.util.PSQLException pg && pg.getServerErrorMessage() != null) {
      org.postgresql.util.ServerErrorMessage server = pg.getServerErrorMessage();
      String detail = server.getDetail();
      return server.getSeverity() + ": " + server.getMessage() + (detail == null ? "" : " (" + detail + ")");
    }
    String message = String.valueOf(e.getMessage());
    int newline = message.indexOf('\n');
    return newline < 0 ? message : message.substring(0, newline);
  }

  /**
   * What to check after {@code e}, as {@code "; check ..."}, or nothing: PostgreSQL's errors of
   * connection and login have a remedy to name ({@link PostgresPool#hint}); SQLite's say it all.
   */
  String hint(SQLException e) {
    return this == POSTGRES ? PostgresPool.hint(e) : "";
  }

  /** "meterd" in ASCII, then 1: the advisory lock of schema upgrades on PostgreSQL. */
  static final long UPGRADE_LOCK_KEY = 0x6d65746572640001L;
  /** "meterd" in ASCII, then 2: the advisory lock every write transaction of the ledger holds on PostgreSQL. */
  static final long WRITE_LOCK_KEY = 0x6d65746572640002L;

  private static final String CREATE_VERSION_TABLE = "CREATE TABLE IF NOT EXISTS schema_version ("
      + "version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)";

  private final String folder;
  private final String bodyStart;
  private final String bodyEnd;
  private final String setting;

  Engine(String folder, String bodyStart, String bodyEnd, String setting) {
    this.folder = folder;
    this.bodyStart = bodyStart;
    this.bodyEnd = bodyEnd;
    this.setting = setting;
  }

  /** The configuration setting that names a ledger of this engine, for messages that tell the operator to change it. */
  String setting() {
    return setting;
  }

  abstract void createVersionTable(Connection conn) throws SQLException;

  /** Work on a connection of its own, not through a {@link SqliteDb}: at open, before the ledger's parts exist. */
  interface Work<T> {
    T run() throws SQLException;
  }

  interface Step {
    void run() throws SQLException;
  }

  /** Runs {@code work} in one transaction of {@link #beginUpgrade}; rolls back on any failure, else commits. */
  void inUpgrade(Connection conn, Step work) throws SQLException {
    beginUpgrade(conn);
    finish(conn, () -> {
      work.run();
      return null;
    });
  }

  /** Runs {@code work} in one transaction of {@link #beginWrite}; rolls back on any failure, else commits. */
  <T> T inWrite(Connection conn, Work<T> work) throws SQLException {
    beginWrite(conn);
    return finish(conn, work);
  }

  private <T> T finish(Connection conn, Work<T> work) throws SQLException {
    T result;
    try {
      result = work.run();
    } catch (SQLException | RuntimeException | Error e) {
      rollback(conn, e);
      throw e;
    }
    commit(conn);
    return result;
  }

  /** Begins the transaction of one schema version, once no other upgrader of this database is in one. */
  abstract void beginUpgrade(Connection conn) throws SQLException;

  /** Begins a write transaction of the ledger, once no other connection's is open. */
  abstract void beginWrite(Connection conn) throws SQLException;

  /** Begins a read transaction: its reads see one snapshot, and it takes no write lock. */
  abstract void beginRead(Connection conn) throws SQLException;

  /** Commits; a failed commit is rolled back before its error is thrown. */
  abstract void commit(Connection conn) throws SQLException;

  /** Rolls back whatever is open, if anything; a failure to do so is added to {@code cause} rather than thrown over it. */
  abstract void rollback(Connection conn, Throwable cause);

  /** A query of one number that changes when a connection commits. */
  abstract String commitCounter();

  /**
   * Whether {@link #commitCounter} counts this connection's own commits too (PostgreSQL's
   * generation does; SQLite's data_version counts only the others').
   */
  abstract boolean countsOwnCommits();

  /**
   * The UTC day, {@code YYYY-MM-DD}, of the epoch milliseconds in {@code column} (e.g.
   * {@code c.occurred_at_ms}), floored as Java's {@code Math.floorDiv} does: both databases'
   * integer division truncates toward zero, which would move a moment before 1970 a day late.
   */
  abstract String dayOf(String column);

  /** The Monday, {@code YYYY-MM-DD}, of the week of the day {@code day} (text of {@link #dayOf}). */
  abstract String mondayOf(String day);

  /** The first day, {@code YYYY-MM-DD}, of the month of the day {@code day} (text of {@link #dayOf}). */
  abstract String firstOfMonth(String day);

  /**
   * {@code column} for an ORDER BY in the order of its UTF-8 bytes, SQLite's order of text:
   * PostgreSQL otherwise sorts text by the database's collation, which differs by locale.
   */
  abstract String inByteOrder(String column);

  abstract boolean hasTable(Connection conn, String table) throws SQLException;

  String bodyStart() {
    return bodyStart;
  }

  String bodyEnd() {
    return bodyEnd;
  }

  /** The resource path of a script, such as {@code db/sqlite/V001__ledger.sql}. */
  String path(String script) {
    return "db/" + folder + "/" + script;
  }

  /** The whole days since 1970 of the milliseconds in {@code column}, floored. */
  private static String floorDays(String column) {
    return "((" + column + " - ((" + column + " % 86400000) + 86400000) % 86400000) / 86400000)";
  }

  private static boolean exists(Connection conn, String sql, String arg) throws SQLException {
    try (PreparedStatement ps = conn.prepareStatement(sql)) {
      ps.setString(1, arg);
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next();
      }
    }
  }

  private static void exec(Connection conn, String sql) throws SQLException {
    try (Statement st = conn.createStatement()) {
      st.execute(sql);
    }
  }
}
