package dev.meterd.ledger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meterd.policy.CreditRules;
import dev.meterd.testing.MutableClock;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The ledger records the currency of its cents: set when it is created (or upgraded from a
 * version that did not record it), and a ledger opened with another {@code [billing] currency}
 * is refused before anything is written to it.
 */
@ParameterizedClass
@EnumSource(LedgerEngine.class)
class LedgerCurrencyIT {

  @Parameter
  LedgerEngine engine;

  @TempDir
  Path tmp;

  private final MutableClock clock = new MutableClock(Instant.parse("2026-11-21T10:05:00Z"));
  private TestDatabase db;

  @BeforeEach
  void freshDatabase() {
    db = engine.freshDatabase(tmp);
  }

  private SqliteLedger open(String currency) {
    return db.open(clock, SqliteLedger.DEFAULT_BUSY_TIMEOUT_MS, CreditRules.DEFAULT, currency);
  }

  /** The ledger_meta row as "currency recorded_at", or null when there is none. */
  private String recorded() throws SQLException {
    List<String> rows = db.column("SELECT currency || ' ' || currency_recorded_at FROM ledger_meta");
    assertThat(rows).as("one row at most").hasSizeLessThanOrEqualTo(1);
    return rows.isEmpty() ? null : rows.get(0);
  }

  /** The refusal, which names the setting that points at the ledger: {@code [storage] path} or {@code url}. */
  private String refusal(String where, String kept, String configured) {
    String setting = engine == LedgerEngine.SQLITE ? "[storage] path" : "[storage] url";
    return "the ledger " + where + " keeps its amounts in " + kept + " but [billing] currency is " + configured
        + ": set [billing] currency = \"" + kept + "\" again (a ledger's currency never changes: its balances would "
        + "be relabelled), or point " + setting + " at a new ledger for " + configured;
  }

  @Test
  void aNewLedgerRecordsTheConfiguredCurrencyAndTheDefaultIsUsd() throws Exception {
    open("EUR").close();
    assertThat(recorded()).isEqualTo("EUR 2026-11-21T10:05:00Z");
    clock.advance(java.time.Duration.ofDays(1));
    open("EUR").close();
    assertThat(recorded()).as("set once").isEqualTo("EUR 2026-11-21T10:05:00Z");

    TestDatabase other = engine.freshDatabase(tmp, "default");
    other.open(clock).close();
    assertThat(other.column("SELECT currency FROM ledger_meta")).containsExactly("USD");
  }

  @Test
  void aLedgerCreatedInUsdIsRefusedInEurAndNothingIsWrittenToIt() throws Exception {
    try (SqliteLedger ledger = open("USD")) {
      ledger.walletStore().credit("u1", TxnType.GRANT, 1_999, "alice", null);
    }
    List<String> before = db.contents();

    clock.advance(java.time.Duration.ofHours(1));
    assertThatThrownBy(() -> open("EUR")).isInstanceOf(CurrencyMismatchException.class)
        .hasMessage(refusal(db.where(), "USD", "EUR"));

    assertThat(db.contents()).as("the database is as before: on SQLite its files byte for byte").isEqualTo(before);
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
    try (Connection c = db.jdbc(); Statement st = c.createStatement()) {
      assertThatThrownBy(() -> st.execute("UPDATE ledger_meta SET currency = 'EUR'"))
          .hasMessageContaining("the ledger's currency is set once");
      assertThatThrownBy(() -> st.execute("DELETE FROM ledger_meta"))
          .hasMessageContaining("the ledger's currency is set once");
      assertThatThrownBy(() -> st.execute("INSERT INTO ledger_meta (id, currency, currency_recorded_at) "
          + "VALUES (2, 'EUR', 'x')")).hasMessageContaining(db.checkRefusal());
    }
    assertThat(recorded()).isEqualTo("USD 2026-11-21T10:05:00Z");
  }

  /**
   * A ledger of version 7 recorded no currency: its cents were in whatever [billing] currency was
   * configured then. The upgrade adopts the configured one, which from then on must stay.
   */
  @Test
  void aVersionSevenLedgerAdoptsTheConfiguredCurrencyAtTheUpgrade() throws Exception {
    try (Connection c = db.jdbc(); Statement st = c.createStatement()) {
      OldSchemas.create(st, db.engine(), 7);
      st.execute("INSERT INTO wallet (wallet_id, user_sid, balance_cents, created_at, updated_at) "
          + "VALUES (1, 'u1', 0, '2026-11-20T10:00:00Z', '2026-11-20T10:00:00Z')");
    }
    assertThat(db.hasTable("ledger_meta")).isFalse();

    try (SqliteLedger ledger = open("EUR")) {
      assertThat(ledger.reads().wallet("u1").orElseThrow().balanceCents()).isZero();
      assertThat(ledger.audit().verify()).isEmpty();
    }
    assertThat(recorded()).isEqualTo("EUR 2026-11-21T10:05:00Z");
    assertThat(db.number("SELECT max(version) FROM schema_version")).isEqualTo(Migrations.latestVersion());
    assertThatThrownBy(() -> open("USD")).isInstanceOf(CurrencyMismatchException.class)
        .hasMessage(refusal(db.where(), "EUR", "USD"));
  }

}
