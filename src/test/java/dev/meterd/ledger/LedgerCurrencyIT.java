package dev.meterd.ledger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meterd.policy.CreditRules;
import dev.meterd.testing.MutableClock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The ledger records the currency of its cents: set when it is created (or upgraded from a
 * version that did not record it), and a ledger opened with another {@code [billing] currency}
 * is refused before anything is written to it.
 */
class LedgerCurrencyIT {

  @TempDir
  Path tmp;

  private final MutableClock clock = new MutableClock(Instant.parse("2026-11-21T10:05:00Z"));

  private Path db() {
    return tmp.resolve("l.db");
  }

  private SqliteLedger open(String currency) {
    return SqliteLedger.open(db(), clock, SqliteLedger.DEFAULT_BUSY_TIMEOUT_MS, CreditRules.DEFAULT, currency);
  }

  private Connection jdbc() throws SQLException {
    return DriverManager.getConnection("jdbc:sqlite:" + db());
  }

  /** The ledger_meta row as "currency recorded_at", or null when there is none. */
  private String recorded() throws SQLException {
    try (Connection c = jdbc(); Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT currency, currency_recorded_at FROM ledger_meta")) {
      String row = rs.next() ? rs.getString(1) + " " + rs.getString(2) : null;
      assertThat(rs.next()).as("one row at most").isFalse();
      return row;
    }
  }

  private static String refusal(Path db, String kept, String configured) {
    return "the ledger " + db + " keeps its amounts in " + kept + " but [billing] currency is " + configured
        + ": set [billing] currency = \"" + kept + "\" again (a ledger's currency never changes: its balances would "
        + "be relabelled), or point [storage] path at a new ledger for " + configured;
  }

  @Test
  void aNewLedgerRecordsTheConfiguredCurrencyAndTheDefaultIsUsd() throws Exception {
    open("EUR").close();
    assertThat(recorded()).isEqualTo("EUR 2026-11-21T10:05:00Z");
    clock.advance(java.time.Duration.ofDays(1));
    open("EUR").close();
    assertThat(recorded()).as("set once").isEqualTo("EUR 2026-11-21T10:05:00Z");

    Path other = tmp.resolve("default.db");
    SqliteLedger.open(other, clock).close();
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + other); Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT currency FROM ledger_meta")) {
      assertThat(rs.next()).isTrue();
      assertThat(rs.getString(1)).isEqualTo("USD");
    }
  }

  @Test
  void aLedgerCreatedInUsdIsRefusedInEurAndNothingIsWrittenToIt() throws Exception {
    try (SqliteLedger ledger = open("USD")) {
      ledger.walletStore().credit("u1", TxnType.GRANT, 1_999, "alice", null);
    }
    byte[] before = Files.readAllBytes(db());
    List<String> filesBefore = files();

    clock.advance(java.time.Duration.ofHours(1));
    assertThatThrownBy(() -> open("EUR")).isInstanceOf(CurrencyMismatchException.class)
        .hasMessage(refusal(db(), "USD", "EUR"));

    assertThat(Files.readAllBytes(db())).as("the database file is byte for byte as before").isEqualTo(before);
    assertThat(files()).isEqualTo(filesBefore);
    assertThat(recorded()).isEqualTo("USD 2026-11-21T10:05:00Z");
    try (SqliteLedger ledger = open("USD")) {
      assertThat(ledger.reads().wallet("u1").orElseThrow().balanceCents()).isEqualTo(1_999);
      assertThat(ledger.reads().transactions("u1", 10)).hasSize(1);
      assertThat(ledger.audit().verify()).isEmpty();
    }
  }

  @Test
  void theRecordedCurrencyCannotBeChangedOrDeleted() throws Exception {
    open("USD").close();
    try (Connection c = jdbc(); Statement st = c.createStatement()) {
      assertThatThrownBy(() -> st.execute("UPDATE ledger_meta SET currency = 'EUR'"))
          .hasMessageContaining("the ledger's currency is set once");
      assertThatThrownBy(() -> st.execute("DELETE FROM ledger_meta"))
          .hasMessageContaining("the ledger's currency is set once");
      assertThatThrownBy(() -> st.execute("INSERT INTO ledger_meta (id, currency, currency_recorded_at) "
          + "VALUES (2, 'EUR', 'x')")).hasMessageContaining("CHECK constraint failed");
    }
    assertThat(recorded()).isEqualTo("USD 2026-11-21T10:05:00Z");
  }

  /**
   * A ledger of version 7 recorded no currency: its cents were in whatever [billing] currency was
   * configured then. The upgrade adopts the configured one, which from then on must stay.
   */
  @Test
  void aVersionSevenLedgerAdoptsTheConfiguredCurrencyAtTheUpgrade() throws Exception {
    try (Connection c = jdbc(); Statement st = c.createStatement()) {
      OldSchemas.create(st, 7);
      st.execute("INSERT INTO wallet (wallet_id, user_sid, balance_cents, created_at, updated_at) "
          + "VALUES (1, 'u1', 0, '2026-11-20T10:00:00Z', '2026-11-20T10:00:00Z')");
    }
    assertThat(tableExists("ledger_meta")).isFalse();

    try (SqliteLedger ledger = open("EUR")) {
      assertThat(ledger.reads().wallet("u1").orElseThrow().balanceCents()).isZero();
      assertThat(ledger.audit().verify()).isEmpty();
    }
    assertThat(recorded()).isEqualTo("EUR 2026-11-21T10:05:00Z");
    try (Connection c = jdbc(); Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT max(version) FROM schema_version")) {
      rs.next();
      assertThat(rs.getInt(1)).isEqualTo(Migrations.latestVersion());
    }
    assertThatThrownBy(() -> open("USD")).isInstanceOf(CurrencyMismatchException.class)
        .hasMessage(refusal(db(), "EUR", "USD"));
  }

  private boolean tableExists(String name) throws SQLException {
    try (Connection c = jdbc(); Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '"
            + name + "'")) {
      rs.next();
      return rs.getInt(1) == 1;
    }
  }

  private List<String> files() throws Exception {
    List<String> names = new ArrayList<>();
    try (var list = Files.list(tmp)) {
      list.map(p -> p.getFileName().toString()).sorted().forEach(names::add);
    }
    return names;
  }
}
