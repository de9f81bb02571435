package dev.meterd.ledger;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import com.zaxxer.hikari.pool.HikariPool;
import java.sql.Connection;
import java.sql.SQLException;

/**
 * The connections of one PostgreSQL ledger: a HikariCP pool of its own, closed with the ledger.
 * Every connection it makes waits at most the ledger's lock timeout for a lock, and lets a
 * statement run at most the statement timeout, before the server ends it.
 *
 * <p>Implementation notes. A ledger holds its connections for long (its writer and its credit
 * reader for its life, the run lock's for a run), so the pool mostly makes connections and
 * replaces lost ones: it opens them on demand (no minimum kept idle), and tests an idle one
 * before lending it. Nothing a ledger changes on a connection's session may reach the next
 * borrower: the reader is made read-only by {@link Connection#setReadOnly}, which HikariCP resets
 * when the connection comes back (with {@code readOnlyMode=always}, the driver makes that a
 * session setting, so the reader's statements outside a transaction are read-only too, and the
 * reset a session setting too); the run lock unlocks its advisory lock before its connection goes
 * back, or has it closed (see {@link PostgresLedger}). The password is handed to the pool and
 * appears in no message: the driver's and the pool's do not quote it, and ours name the URL and
 * the user only.
 */
final class PostgresPool implements AutoCloseable {

  /**
   * The least a transaction waits for a connection. After failed attempts (the server down)
   * HikariCP tries again at intervals growing to 5 s, and a transaction that needs a new
   * connection once the server is back waits for the interval under way to end: a shorter wait
   * would fail it though the server would answer at once.
   */
  private static final int MIN_CONNECTION_WAIT_MS = 10_000;
  /** HikariCP's floor for its timeouts: it would raise a smaller one itself, with a warning. */
  private static final int MIN_VALIDATION_MS = 250;
  /** HikariCP's default for testing an idle connection before lending it. */
  private static final int MAX_VALIDATION_MS = 5_000;
  /**
   * How much longer than the statement timeout the driver waits for any answer before it takes
   * the connection for lost: the server ends every statement by then, so a silence that long is a
   * broken network, which TCP alone may take hours to notice.
   */
  private static final int SOCKET_MARGIN_SECONDS = 30;

  private final HikariDataSource pool;
  private final String url;
  private final String user;

  private PostgresPool(HikariDataSource pool, String url, String user) {
    this.pool = pool;
    this.url = url;
    this.user = user;
  }

  /**
   * A pool of at most {@code settings.poolSize()} connections to {@code url} as {@code user}; it
   * makes its first connection now, so that a wrong address or password fails the open.
   *
   * @throws LedgerException no connection can be made, with what to check
   */
  static PostgresPool open(String url, String user, String password, PostgresLedger.Settings settings,
      PostgresLedger.Sharing sharing) {
    HikariConfig config = new HikariConfig();
    config.setPoolName("meterd-ledger");
    config.setJdbcUrl(url);
    config.setUsername(user);
    config.setPassword(password);
    config.setMaximumPoolSize(settings.poolSize());
    config.setMinimumIdle(0);
    // A transaction waits for a connection as long as it would wait for another writer's lock.
    config.setConnectionTimeout(Math.max(MIN_CONNECTION_WAIT_MS, settings.lockTimeoutMs()));
    config.setValidationTimeout(Math.max(MIN_VALIDATION_MS, Math.min(MAX_VALIDATION_MS, settings.lockTimeoutMs())));
    // One statement, so that it is the same however the driver splits text into statements.
    // A transaction left idle as long as a lease (a daemon frozen inside one) is ended by the
    // server: it would otherwise keep the write lock, and the rows of the nodes it wrote, from
    // every other daemon for as long as it stays frozen.
    config.setConnectionInitSql("SELECT set_config('lock_timeout', '" + settings.lockTimeoutMs() + "', false), "
        + "set_config('statement_timeout', '" + settings.statementTimeoutMs() + "', false), "
        + "set_config('idle_in_transaction_session_timeout', '" + sharing.lease().toMillis() + "', false)");
    // pg_stat_activity says which daemon each connection is.
    config.addDataSourceProperty("ApplicationName", "meterd " + sharing.holder());
    config.addDataSourceProperty("readOnlyMode", "always");
    config.addDataSourceProperty("tcpKeepAlive", "true");
    config.addDataSourceProperty("socketTimeout",
        String.valueOf((settings.statementTimeoutMs() + 999) / 1000 + SOCKET_MARGIN_SECONDS));
    try {
      return new PostgresPool(new HikariDataSource(config), url, user);
    } catch (HikariPool.PoolInitializationException e) {
      SQLException cause = e.getCause() instanceof SQLException sql ? sql : new SQLException(e.getMessage(), e);
      throw new LedgerException("cannot open the database " + url + " as user " + user + ": " + cause.getMessage()
          + hint(cause), cause);
    }
  }

  /** A connection of the pool, in autocommit mode; a failure says as whom it was tried. */
  Connection connect() throws SQLException {
    try {
      return pool.getConnection();
    } catch (SQLException e) {
      // HikariCP's own message says only that it timed out: the reason is the last failed attempt.
      String reason = e.getCause() instanceof SQLException last ? last.getMessage() : e.getMessage();
      throw new SQLException("no connection could be made as user " + user + ": " + reason, e.getSQLState(), e);
    }
  }

  /** A connection of the pool whose statements can only read, as {@link SqliteCreditReads} needs. */
  Connection connectReader() throws SQLException {
    Connection conn = connect();
    try {
      conn.setReadOnly(true);
      return conn;
    } catch (SQLException e) {
      discard(conn);
      throw e;
    }
  }

  /**
   * Gives back a connection the ledger is done with: HikariCP rolls back a transaction left open
   * and resets autocommit and read-only. One whose reset fails is closed instead.
   */
  void release(Connection conn) {
    try {
      conn.close();
    } catch (SQLException e) {
      discard(conn);
    }
  }

  /**
   * Closes a connection found lost, or whose session may hold state: the pool never lends it
   * again. (Not {@code close()} as well: the pool has closed it, and would reset the closed one.)
   */
  void discard(Connection conn) {
    pool.evictConnection(conn);
  }

  /** The database, for messages. */
  String url() {
    return url;
  }

  /** The writer's connections: {@link #connect()}, replaced when lost. */
  SqliteDb.Connections writers() {
    return connections(this::connect);
  }

  /** The credit reader's connections: {@link #connectReader()}, replaced when lost. */
  SqliteDb.Connections readers() {
    return connections(this::connectReader);
  }

  private SqliteDb.Connections connections(SqliteDb.Connections connect) {
    PostgresPool pool = this;
    return new SqliteDb.Connections() {
      @Override
      public Connection connect() throws SQLException {
        return connect.connect();
      }

      @Override
      public boolean replacesLost() {
        return true;
      }

      @Override
      public void discard(Connection lost) {
        pool.discard(lost);
      }

      @Override
      public void release(Connection conn) {
        pool.release(conn);
      }
    };
  }

  /** Closes every connection, lent or not. */
  @Override
  public void close() {
    pool.close();
  }

  /**
   * Whether {@code e} says that its connection is gone: a connection exception (class 08), or the
   * server shutting down or not yet accepting connections (57P01 to 57P03).
   */
  static boolean lostConnection(SQLException e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof SQLException sql && sql.getSQLState() != null) {
        String state = sql.getSQLState();
        if (state.startsWith("08") || state.equals("57P01") || state.equals("57P02") || state.equals("57P03")) {
          return true;
        }
      }
    }
    return false;
  }

  /** What to check after {@code e}, as {@code "; check ..."}, or nothing when the error says it all. */
  static String hint(SQLException e) {
    String state = e.getSQLState() == null ? "" : e.getSQLState();
    if (state.startsWith("28")) {
      return "; check storage.user and the password in METERD_DB_PASSWORD";
    }
    if (state.equals("3D000")) {
      return "; create the database first (createdb), or correct storage.url";
    }
    if (lostConnection(e)) {
      return "; check that PostgreSQL is running and reachable";
    }
    return "";
  }
}
