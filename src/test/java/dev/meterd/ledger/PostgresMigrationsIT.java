package dev.meterd.ledger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meterd.testing.TestPostgres;
import dev.meterd.testing.TestPostgres.Database;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.postgresql.util.PSQLException;

/** The schema on PostgreSQL: its upgrade, its refusals, and that it has SQLite's tables and columns. */
class PostgresMigrationsIT {

  private static final List<String> ALL_VERSIONS =
      IntStream.rangeClosed(1, Migrations.latestVersion()).mapToObj(Integer::toString).toList();

  @TempDir
  Path tmp;

  private final Database db = TestPostgres.freshDatabase();

  @Test
  void freshDatabaseUpgradesToTheLatestVersion() throws Exception {
    try (Connection c = connect()) {
      assertThat(Migrations.upgrade(c, Engine.POSTGRES, db.jdbcUrl())).isZero();
      // A pooled connection goes back to the pool as it came: in autocommit mode.
      assertThat(c.getAutoCommit()).isTrue();
    }
    assertThat(column("SELECT version FROM schema_version ORDER BY version")).isEqualTo(ALL_VERSIONS);
    assertThat(column("SELECT id || ' ' || nodes_total || ' ' || generation FROM run_mark")).containsExactly("1 0 0");
    assertThat(column("SELECT listed_to_txn_id FROM wallet_txn_mark")).containsExactly("0");
  }

  @Test
  void upgradingAnUpToDateDatabaseChangesNothing() throws Exception {
    upgrade();
    List<String> applied = column("SELECT version || ' ' || applied_at FROM schema_version ORDER BY version");
    Map<String, List<String>> columns = postgresColumns();

    assertThat(upgrade()).isEqualTo(Migrations.latestVersion());
    assertThat(column("SELECT version || ' ' || applied_at FROM schema_version ORDER BY version")).isEqualTo(applied);
    assertThat(postgresColumns()).isEqualTo(columns);
    assertThat(column("SELECT count(*) FROM run_mark")).containsExactly("1");
  }

  @Test
  void twoDaemonsUpgradingAtOnceApplyEachVersionOnce() throws Exception {
    CyclicBarrier start = new CyclicBarrier(2);
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try {
      List<Future<Integer>> upgrades = new ArrayList<>();
      for (int i = 0; i < 2; i++) {
        upgrades.add(pool.submit(() -> {
          try (Connection c = connect()) {
            start.await(60, TimeUnit.SECONDS);
            return Migrations.upgrade(c, Engine.POSTGRES, db.jdbcUrl());
          }
        }));
      }
      for (Future<Integer> upgrade : upgrades) {
        assertThat(upgrade.get(60, TimeUnit.SECONDS)).isBetween(0, Migrations.latestVersion());
      }
    } finally {
      pool.shutdownNow();
    }
    // A version applied twice would have failed on its second CREATE TABLE, or on run_mark's row.
    assertThat(column("SELECT version FROM schema_version ORDER BY version")).isEqualTo(ALL_VERSIONS);
    assertThat(column("SELECT count(*) FROM run_mark")).containsExactly("1");
  }

  @Test
  void refusesADatabaseOfANewerSchema() throws Exception {
    upgrade();
    execute("INSERT INTO schema_version (version, applied_at) VALUES (99, 'later')");

    assertThatThrownBy(this::upgrade)
        .isInstanceOf(LedgerException.class)
        .hasMessage("the database " + db.jdbcUrl() + " has schema version 99, newer than this meterd knows ("
            + Migrations.latestVersion() + "); run a newer meterd against it");
    assertThat(column("SELECT max(version) FROM schema_version")).containsExactly("99");
  }

  /**
   * Every trigger of the SQLite scripts, found in a fresh SQLite ledger, refuses the same change
   * with the same message on PostgreSQL; TRUNCATE, which SQLite lacks, is refused as DELETE is.
   */
  @Test
  void appendOnlyTablesRefuseUpdateDeleteAndTruncateAsOnSqlite() throws Exception {
    List<SqliteTrigger> triggers = sqliteTriggers();
    assertThat(triggers.stream().map(SqliteTrigger::table).distinct().sorted()).containsExactly("consumed_newest",
        "lease_log", "ledger_meta", "ledger_txn", "payment", "unapplied_payment", "wallet_txn");
    upgradeWithOneRowInEachAppendOnlyTable();

    for (SqliteTrigger trigger : triggers) {
      String change = trigger.event().equals("DELETE") ? "DELETE FROM " + trigger.table()
          : "UPDATE " + trigger.table() + " SET " + trigger.column() + " = " + trigger.column();
      assertThat(refusal(change)).as(change).isEqualTo(trigger.message());
      if (trigger.event().equals("DELETE")) {
        assertThat(refusal("TRUNCATE " + trigger.table() + " CASCADE")).as("TRUNCATE " + trigger.table())
            .isEqualTo(trigger.message());
      }
    }
    assertThat(column("SELECT (SELECT count(*) FROM ledger_txn) + (SELECT count(*) FROM consumed_record)"
        + " + (SELECT count(*) FROM payment) + (SELECT count(*) FROM ledger_meta)"
        + " + (SELECT count(*) FROM unapplied_payment) + (SELECT count(*) FROM wallet_txn)"
        + " + (SELECT count(*) FROM lease_log)")).containsExactly("7");
  }

  @Test
  void negativeCostOfAConsumedRecordIsRefused() throws Exception {
    upgrade();

    assertThat(consumedRecordRefusal(-1, 0))
        .isEqualTo("new row for relation \"consumed_newest\" violates check constraint \"consumed_record_cost_cents_check\"");
    assertThat(column("SELECT count(*) FROM consumed_record")).containsExactly("0");
  }

  @Test
  void waivingMoreThanARecordCostIsRefused() throws Exception {
    upgrade();

    assertThat(consumedRecordRefusal(5, 6))
        .isEqualTo("new row for relation \"consumed_newest\" violates check constraint \"consumed_record_waived_cents_check\"");
    assertThat(column("SELECT count(*) FROM consumed_record")).containsExactly("0");
  }

  private String consumedRecordRefusal(long costCents, long waivedCents) {
    return refusal("INSERT INTO consumed_newest (node_id, idempotency_key, wallet_id, cost_cents, occurred_at_ms,"
        + " txn_id, file_id, waived_cents) VALUES (1, 'k1', 1, " + costCents + ", 0, 1, 1, " + waivedCents + ")");
  }

  @Test
  void tablesColumnsAndIndexesAreSqlites() throws Exception {
    upgrade();
    Map<String, List<String>> sqliteColumns = new TreeMap<>();
    List<String> sqliteIndexes;
    List<String> sqliteViews;
    try (Connection c = freshSqlite(); Statement st = c.createStatement()) {
      for (String table : column(st, "SELECT name FROM sqlite_master WHERE type = 'table'"
          + " AND name NOT LIKE 'sqlite_%' ORDER BY name")) {
        sqliteColumns.put(table, column(st, "SELECT name FROM pragma_table_info('" + table + "') ORDER BY cid"));
      }
      sqliteIndexes = column(st, "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name");
      sqliteViews = column(st, "SELECT name || ' ' || (SELECT group_concat(name, ',') FROM pragma_table_info(v.name)) "
          + "FROM sqlite_master v WHERE type = 'view' ORDER BY name");
    }

    assertThat(postgresColumns()).isEqualTo(sqliteColumns);
    assertThat(sqliteViews).containsExactly("consumed_record " + String.join(",", sqliteColumns.get("consumed_newest")));
    assertThat(column("SELECT v.table_name || ' ' || (SELECT string_agg(c.column_name, ',' ORDER BY c.ordinal_position) "
        + "FROM information_schema.columns c WHERE c.table_schema = v.table_schema AND c.table_name = v.table_name) "
        + "FROM information_schema.views v WHERE v.table_schema = current_schema() ORDER BY 1")).isEqualTo(sqliteViews);
    // The indexes created by name: PostgreSQL's own for primary keys and UNIQUE, like SQLite's
    // sqlite_autoindex_*, are left out.
    assertThat(column("SELECT i.indexname FROM pg_indexes i WHERE i.schemaname = current_schema()"
        + " AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = (quote_ident(i.indexname))::regclass"
        + " AND k.contype IN ('p', 'u')) ORDER BY i.indexname")).isEqualTo(sqliteIndexes);
  }

  /**
   * The days of the usage consumed before version 4 are written as SQLite writes them, on both
   * sides of the epoch and of midnight UTC.
   */
  @Test
  void dailySpendOfEarlierUsageHasSqlitesDays() throws Exception {
    String wallets = "INSERT INTO wallet (user_sid, balance_cents, created_at, updated_at)"
        + " VALUES ('u1', 0, 't', 't'), ('u2', 0, 't', 't')";
    String records = "INSERT INTO consumed_record (node_id, idempotency_key, wallet_id, cost_cents, occurred_at_ms,"
        + " txn_id, file_id) VALUES (1, 'a', 1, 1, -86400001, 1, 1), (1, 'b', 1, 2, -1, 1, 1), (1, 'c', 1, 4, 0, 1, 1),"
        + " (1, 'd', 1, 8, 86399999, 1, 1), (1, 'e', 1, 16, 86400000, 1, 1), (1, 'f', 2, 32, 1709251199999, 1, 1),"
        + " (1, 'g', 2, 64, 253402300799999, 1, 1), (1, 'h', 2, 128, -62135596800000, 1, 1)";
    String spend = "SELECT wallet_id || ' ' || day || ' ' || charged_cents || ' ' || waived_cents FROM daily_spend"
        + " ORDER BY wallet_id, day";
    List<String> sqliteDays;
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + tmp.resolve("v3.db"));
        Statement st = c.createStatement()) {
      OldSchemas.create(st, 3);
      st.execute(wallets);
      st.execute(records);
      Migrations.upgrade(c, Engine.SQLITE, "v3.db");
      sqliteDays = column(st, spend);
    }
    try (Connection c = connect(); Statement st = c.createStatement()) {
      OldSchemas.create(st, Engine.POSTGRES, 3);
      st.execute(wallets);
      st.execute(records);
      Migrations.upgrade(c, Engine.POSTGRES, db.jdbcUrl());
    }

    assertThat(sqliteDays).containsExactly("1 1969-12-30 1 0", "1 1969-12-31 2 0", "1 1970-01-01 12 0", "1 1970-01-02 16 0",
        "2 0001-01-01 128 0", "2 2024-02-29 32 0", "2 9999-12-31 64 0");
    assertThat(column(spend)).isEqualTo(sqliteDays);
  }

  private record SqliteTrigger(String table, String event, String column, String message) {
  }

  private static final Pattern TRIGGER = Pattern.compile(
      "CREATE TRIGGER \\w+ BEFORE (UPDATE|DELETE)(?: OF (\\w+))? ON (\\w+).*RAISE\\(ABORT, '((?:[^']|'')*)'\\)",
      Pattern.DOTALL);

  private List<SqliteTrigger> sqliteTriggers() throws Exception {
    List<SqliteTrigger> triggers = new ArrayList<>();
    try (Connection c = freshSqlite(); Statement st = c.createStatement()) {
      for (String sql : column(st, "SELECT sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name")) {
        Matcher m = TRIGGER.matcher(sql);
        assertThat(m.find()).as("a trigger that refuses a change: %s", sql).isTrue();
        String table = m.group(3);
        String updated = m.group(2) != null ? m.group(2)
            : column(st, "SELECT name FROM pragma_table_info('" + table + "') WHERE cid = 0").get(0);
        triggers.add(new SqliteTrigger(table, m.group(1), updated, m.group(4).replace("''", "'")));
      }
    }
    return triggers;
  }

  private void upgradeWithOneRowInEachAppendOnlyTable() throws Exception {
    upgrade();
    execute("INSERT INTO wallet (user_sid, balance_cents, created_at, updated_at) VALUES ('u1', 100, 't', 't')");
    execute("INSERT INTO ledger_txn (txn_id, wallet_id, type, amount_cents, occurred_at, initiated_by, row_hash)"
        + " VALUES (1, 1, 'topup', 100, 't', 'alice', 'h')");
    execute("INSERT INTO consumed_newest (node_id, idempotency_key, wallet_id, cost_cents, occurred_at_ms, txn_id,"
        + " file_id) VALUES (1, 'k1', 1, 5, 0, 1, 1)");
    execute("INSERT INTO payment (payment_id, txn_id, wallet_id, type, amount_cents, created_at)"
        + " VALUES ('p1', 1, 1, 'topup', 100, 't')");
    execute("INSERT INTO ledger_meta (id, currency, currency_recorded_at) VALUES (1, 'EUR', 't')");
    execute("INSERT INTO unapplied_payment (event_id, user_sid, amount, currency, reason, received_at)"
        + " VALUES ('evt_1', 'u1', 100, 'ISK', 'hundredths', 't')");
    execute("INSERT INTO wallet_txn (wallet_id, txn_id) VALUES (1, 1)");
    execute("INSERT INTO lease_log (node, epoch, holder, event, at_ms) VALUES ('n1', 1, 'd1', 'claim', 0)");
  }

  private int upgrade() throws SQLException {
    try (Connection c = connect()) {
      return Migrations.upgrade(c, Engine.POSTGRES, db.jdbcUrl());
    }
  }

  private Connection freshSqlite() throws SQLException {
    Connection c = DriverManager.getConnection("jdbc:sqlite:" + tmp.resolve("fresh-" + System.nanoTime() + ".db"));
    Migrations.upgrade(c, Engine.SQLITE, "fresh.db");
    return c;
  }

  private Map<String, List<String>> postgresColumns() throws SQLException {
    Map<String, List<String>> columns = new TreeMap<>();
    for (String row : column("SELECT c.table_name || ' ' || c.column_name FROM information_schema.columns c"
        + " JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name"
        + " WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'"
        + " ORDER BY c.table_name, c.ordinal_position")) {
      String[] parts = row.split(" ");
      columns.computeIfAbsent(parts[0], t -> new ArrayList<>()).add(parts[1]);
    }
    return columns;
  }

  /** The message PostgreSQL refused {@code sql} with (without its "ERROR: " and context). */
  private String refusal(String sql) {
    try {
      execute(sql);
    } catch (PSQLException e) {
      return e.getServerErrorMessage().getMessage();
    } catch (SQLException e) {
      throw new AssertionError(sql + " failed otherwise than refused by the server: " + e.getMessage(), e);
    }
    throw new AssertionError(sql + " was not refused");
  }

  private Connection connect() throws SQLException {
    return DriverManager.getConnection(db.jdbcUrl(), db.user(), db.password());
  }

  private void execute(String sql) throws SQLException {
    try (Connection c = connect(); Statement st = c.createStatement()) {
      st.execute(sql);
    }
  }

  private List<String> column(String sql) throws SQLException {
    try (Connection c = connect(); Statement st = c.createStatement()) {
      return column(st, sql);
    }
  }

  private static List<String> column(Statement st, String sql) throws SQLException {
    try (ResultSet rs = st.executeQuery(sql)) {
      List<String> values = new ArrayList<>();
      while (rs.next()) {
        values.add(rs.getString(1));
      }
      return values;
    }
  }
}
