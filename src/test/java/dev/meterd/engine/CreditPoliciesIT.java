package dev.meterd.engine;

import static dev.meterd.testing.UsageRepo.batch;
import static dev.meterd.testing.UsageRepo.record;
import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.batch.BatchParser;
import dev.meterd.ledger.BudgetAlert;
import dev.meterd.ledger.LedgerEngine;
import dev.meterd.ledger.SqliteLedger;
import dev.meterd.ledger.TestDatabase;
import dev.meterd.ledger.Violation;
import dev.meterd.ledger.Wallet;
import dev.meterd.ledger.WalletSpend;
import dev.meterd.policy.WalletSettings;
import dev.meterd.source.git.GitBatchSource;
import dev.meterd.testing.MutableClock;
import dev.meterd.testing.UsageRepo;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** Budgets, alerts and daily caps, decided in the node's own transaction, over real runs on each engine. */
@ParameterizedClass
@EnumSource(LedgerEngine.class)
class CreditPoliciesIT {

  private static final YearMonth NOVEMBER = YearMonth.of(2026, 11);
  private static final YearMonth DECEMBER = YearMonth.of(2026, 12);

  @Parameter
  LedgerEngine engine;

  @TempDir
  Path tmp;

  private UsageRepo repo;
  private GitBatchSource source;
  private TestDatabase db;
  private SqliteLedger ledger;
  private final MutableClock clock = new MutableClock(Instant.parse("2026-11-21T10:05:00Z"));

  @BeforeEach
  void setUp() throws Exception {
    repo = new UsageRepo(tmp.resolve("usage.git"));
    db = engine.freshDatabase(tmp);
    ledger = db.open(clock);
  }

  @AfterEach
  void tearDown() {
    if (source != null) {
      source.close();
    }
    ledger.close();
    repo.close();
  }

  private RunSummary run() throws Exception {
    if (source == null) {
      source = GitBatchSource.open(repo.dir().toString(), "main", tmp.resolve("clone"), Optional.empty());
    }
    clock.advance(Duration.ofMinutes(5));
    return new Aggregator(source, ledger, new BatchParser(BatchParser.Limits.DEFAULT), clock, FaultInjector.NONE)
        .run(RunRequest.ALL);
  }

  private static String records(String prefix, String user, int count, long cents, String occurredAt) {
    StringBuilder text = new StringBuilder();
    for (int i = 0; i < count; i++) {
      text.append(record(prefix + i, user, cents, occurredAt));
    }
    return batch(text.toString());
  }

  private void budget(String user, long cents) {
    ledger.walletStore().updateSettings(user, new WalletSettings.Patch(cents, null, null, null, null), "ops");
  }

  private long balance(String user) {
    return ledger.reads().wallet(user).map(Wallet::balanceCents).orElseThrow();
  }

  private List<String> alerts(YearMonth cycle) {
    List<String> result = new ArrayList<>();
    for (BudgetAlert a : ledger.reads().alerts(cycle, null, 100)) {
      result.add(0, a.userSid() + " " + a.thresholdPct() + "% " + a.cycle() + " spent " + a.spentCents() + " of "
          + a.budgetCents());
    }
    return result;
  }

  private List<String> column(String sql) throws Exception {
    return db.column(sql);
  }

  private void exec(String sql) throws Exception {
    db.exec(sql);
  }

  /** The data of each outbox event of {@code type}, oldest first, as JSON text. */
  private List<String> eventData(String type) throws Exception {
    return eventData(type, data -> data.encode());
  }

  /** {@code field} of the data of each outbox event of {@code type}, oldest first. */
  private List<String> eventData(String type, java.util.function.Function<JsonObject, String> field) throws Exception {
    List<String> result = new ArrayList<>();
    for (String body : column("SELECT body FROM outbox_event WHERE type = '" + type + "' ORDER BY event_seq")) {
      result.add(field.apply(new JsonObject(body).getJsonObject("data")));
    }
    return result;
  }

  @Test
  void budgetAlertsFireOnceEachInTheChargeThatReachesThemAndAfreshNextMonth() throws Exception {
    budget("u1", 10_000);
    // Node A takes the spend to 6,000 (60 %), node B to 12,000 (120 %): one run, two node transactions.
    repo.commit("nodes/A/" + UsageRepo.HOUR_10, records("a", "u1", 6, 1_000, "2026-11-21T10:00:00Z"),
        "nodes/B/" + UsageRepo.HOUR_10, records("b", "u1", 6, 1_000, "2026-11-21T10:00:00Z"));
    run();
    assertThat(alerts(NOVEMBER)).containsExactly(
        "u1 50% 2026-11 spent 6000 of 10000",
        "u1 80% 2026-11 spent 12000 of 10000",
        "u1 100% 2026-11 spent 12000 of 10000");
    // Each alert's as-of transaction is the charge that reached it.
    assertThat(column("SELECT a.threshold_pct || ':' || n.name FROM budget_alert a JOIN ledger_txn t "
        + "ON t.txn_id = a.as_of_txn_id JOIN node n ON n.node_id = t.source_node_id ORDER BY a.threshold_pct"))
        .containsExactly("50:A", "80:B", "100:B");
    // Each in the outbox, written by the same transaction, for the webhook.
    assertThat(eventData("alert.fired")).containsExactly(
        "{\"user_sid\":\"u1\",\"threshold_pct\":50,\"cycle\":\"2026-11\",\"spent_cents\":6000,\"budget_cents\":10000,"
            + "\"fired_at\":\"2026-11-21T10:10:00Z\"}",
        "{\"user_sid\":\"u1\",\"threshold_pct\":80,\"cycle\":\"2026-11\",\"spent_cents\":12000,\"budget_cents\":10000,"
            + "\"fired_at\":\"2026-11-21T10:10:00Z\"}",
        "{\"user_sid\":\"u1\",\"threshold_pct\":100,\"cycle\":\"2026-11\",\"spent_cents\":12000,\"budget_cents\":10000,"
            + "\"fired_at\":\"2026-11-21T10:10:00Z\"}");
    assertThat(eventData("wallet.depleted", data -> Long.toString(data.getLong("balance_cents"))))
        .containsExactly("-6000");

    // More usage in the same month fires nothing: each alert fires once per cycle, ever.
    repo.commit("nodes/A/" + UsageRepo.HOUR_11, records("a2-", "u1", 3, 1_000, "2026-11-22T10:00:00Z"));
    run();
    assertThat(alerts(NOVEMBER)).hasSize(3);

    // The next month starts afresh.
    repo.commit("nodes/B/" + UsageRepo.HOUR_11, records("dec", "u1", 5, 1_000, "2026-12-01T00:00:00Z"));
    run();
    assertThat(alerts(DECEMBER)).containsExactly("u1 50% 2026-12 spent 5000 of 10000");
    assertThat(column("SELECT count(*) FROM outbox_event WHERE type = 'alert.fired'")).containsExactly("4");
    // Depleted once, when the balance first went below zero.
    assertThat(column("SELECT count(*) FROM outbox_event WHERE type = 'wallet.depleted'")).containsExactly("1");
    assertThat(balance("u1")).isEqualTo(-20_000);
    assertThat(ledger.audit().verify()).isEmpty();
  }

  @Test
  void aLateRecordCountsTowardTheMonthItOccurredIn() throws Exception {
    budget("u1", 10_000);
    repo.commit("nodes/A/" + UsageRepo.HOUR_10, records("dec", "u1", 1, 4_000, "2026-12-02T00:00:00Z"),
        "nodes/B/" + UsageRepo.HOUR_10, records("nov", "u1", 1, 7_000, "2026-11-30T23:59:59Z"));
    run();
    assertThat(alerts(NOVEMBER)).containsExactly("u1 50% 2026-11 spent 7000 of 10000");
    assertThat(alerts(DECEMBER)).isEmpty();
    assertThat(ledger.reads().spend("u1", NOVEMBER, LocalDate.of(2026, 11, 30)))
        .isEqualTo(new WalletSpend(NOVEMBER, 7_000, 0, LocalDate.of(2026, 11, 30), 7_000, 0));
    assertThat(ledger.audit().verify()).isEmpty();
  }

  @Test
  void aDisabledWalletFiresNoAlertAndAlertsRunSkipsIt() throws Exception {
    ledger.walletStore().updateSettings("u1", new WalletSettings.Patch(1_000L, null, null, null, false), "ops");
    repo.commit("nodes/A/" + UsageRepo.HOUR_10, records("a", "u1", 1, 2_000, "2026-11-21T10:00:00Z"));
    run();
    assertThat(alerts(NOVEMBER)).isEmpty();
    assertThat(ledger.walletStore().fireDueAlerts("2026-11", false)).isEmpty();
    assertThat(balance("u1")).isEqualTo(-2_000);
  }

  @Test
  void alertsRunFiresWhatABudgetLoweredMidCycleMadeDueOnceAndItsDryRunWritesNothing() throws Exception {
    budget("u1", 100_000);
    budget("u2", 100_000);
    repo.commit("nodes/A/" + UsageRepo.HOUR_10, records("a", "u1", 1, 4_000, "2026-11-21T10:00:00Z")
        + records("b", "u2", 1, 1_000, "2026-11-21T10:00:00Z").substring("schema = 1\n".length()));
    run();
    assertThat(alerts(NOVEMBER)).isEmpty();
    budget("u1", 5_000);

    List<BudgetAlert> wouldFire = ledger.walletStore().fireDueAlerts("2026-11", true);
    assertThat(wouldFire).extracting(a -> a.userSid() + " " + a.thresholdPct() + " " + a.spentCents())
        .containsExactly("u1 50 4000", "u1 80 4000");
    assertThat(alerts(NOVEMBER)).isEmpty();

    assertThat(ledger.walletStore().fireDueAlerts("2026-11", false)).isEqualTo(wouldFire);
    assertThat(alerts(NOVEMBER)).containsExactly("u1 50% 2026-11 spent 4000 of 5000", "u1 80% 2026-11 spent 4000 of 5000");
    assertThat(ledger.walletStore().fireDueAlerts("2026-11", false)).isEmpty();
    assertThat(ledger.walletStore().fireDueAlerts("2026-10", false)).isEmpty();
    assertThat(ledger.audit().verify()).isEmpty();
  }

  @Test
  void recordsCrossingTheDailyCapAreChargedUpToItAndTheRestWaivedAndTheNextDayStartsAfresh() throws Exception {
    ledger.walletStore().updateSettings("u1", new WalletSettings.Patch(null, 1_000L, null, null, null), "ops");
    repo.commit("nodes/A/" + UsageRepo.HOUR_10, batch(
        record("r1", "u1", 400, "2026-11-21T01:00:00Z"),
        record("r2", "u1", 400, "2026-11-21T02:00:00Z"),
        record("r3", "u1", 400, "2026-11-21T03:00:00Z"),
        record("r4", "u1", 300, "2026-11-21T23:59:59Z"),
        record("r5", "u1", 700, "2026-11-22T00:00:00Z")));
    RunSummary summary = run();

    assertThat(summary.debitedCents()).isEqualTo(400 + 400 + 200 + 0 + 700);
    assertThat(balance("u1")).isEqualTo(-1_700);
    assertThat(column("SELECT idempotency_key || ' ' || cost_cents || ' ' || waived_cents FROM consumed_record "
        + "ORDER BY idempotency_key")).containsExactly("r1 400 0", "r2 400 0", "r3 400 200", "r4 300 300", "r5 700 0");
    assertThat(column("SELECT day || ' ' || charged_cents || ' ' || waived_cents FROM daily_spend ORDER BY day"))
        .containsExactly("2026-11-21 1000 500", "2026-11-22 700 0");
    assertThat(ledger.reads().spend("u1", NOVEMBER, LocalDate.of(2026, 11, 21)))
        .isEqualTo(new WalletSpend(NOVEMBER, 1_700, 500, LocalDate.of(2026, 11, 21), 1_000, 500));

    // A later run on a capped day waives everything; the usage summary explains every cent.
    repo.commit("nodes/B/" + UsageRepo.HOUR_10, batch(record("late", "u1", 50, "2026-11-21T12:00:00Z")));
    run();
    assertThat(balance("u1")).isEqualTo(-1_700);
    assertThat(ledger.reads().usage(dev.meterd.ledger.LedgerReads.Bucket.DAY, null, null))
        .extracting(b -> b.start() + " " + b.records() + " " + b.costCents() + " " + b.chargedCents() + " "
            + b.waivedCents())
        .containsExactly("2026-11-21 5 1550 1000 550", "2026-11-22 1 700 700 0");
    assertThat(ledger.audit().verify()).isEmpty();
  }

  @Test
  void aCapSetByAnotherProcessIsAppliedByTheNextNodeWrite() throws Exception {
    repo.commit("nodes/A/" + UsageRepo.HOUR_10, batch(record("r1", "u1", 400, "2026-11-21T01:00:00Z")));
    run();
    // The daemon's ledger has u1's wallet (with no cap) cached; a CLI beside it sets a cap.
    try (SqliteLedger cli = db.open(clock)) {
      cli.walletStore().updateSettings("u1", new WalletSettings.Patch(null, 500L, null, null, null), "cli:ops");
    }
    repo.commit("nodes/A/" + UsageRepo.HOUR_11, batch(record("r2", "u1", 400, "2026-11-21T02:00:00Z")));
    run();
    assertThat(balance("u1")).isEqualTo(-500);
    assertThat(column("SELECT waived_cents FROM consumed_record WHERE idempotency_key = 'r2'")).containsExactly("300");
  }

  @Test
  void aSettingsChangeIsRecordedWithWhoAndTheValuesBeforeAndAfter() throws Exception {
    Wallet wallet = ledger.walletStore().updateSettings("u9",
        new WalletSettings.Patch(10_000L, 500L, null, null, null), "alice");
    assertThat(wallet.settings()).isEqualTo(new WalletSettings(10_000, 500, 0, 0, true));
    assertThat(wallet.balanceCents()).isZero();
    clock.advance(Duration.ofMinutes(1));
    ledger.walletStore().updateSettings("u9", new WalletSettings.Patch(null, null, null, null, false), "bob");
    assertThat(column("SELECT c.initiated_by || ' ' || c.changed_at || ' ' || c.old_settings || ' -> ' "
        + "|| c.new_settings FROM wallet_settings_change c ORDER BY c.change_id")).containsExactly(
        "alice 2026-11-21T10:05:00Z {\"monthly_budget_cents\":0,\"daily_cap_cents\":0,\"auto_topup_threshold_cents\":0,"
            + "\"auto_topup_amount_cents\":0,\"enabled\":true} -> {\"monthly_budget_cents\":10000,\"daily_cap_cents\":500,"
            + "\"auto_topup_threshold_cents\":0,\"auto_topup_amount_cents\":0,\"enabled\":true}",
        "bob 2026-11-21T10:06:00Z {\"monthly_budget_cents\":10000,\"daily_cap_cents\":500,\"auto_topup_threshold_cents\":0,"
            + "\"auto_topup_amount_cents\":0,\"enabled\":true} -> {\"monthly_budget_cents\":10000,\"daily_cap_cents\":500,"
            + "\"auto_topup_threshold_cents\":0,\"auto_topup_amount_cents\":0,\"enabled\":false}");
    assertThat(ledger.reads().wallet("u9").orElseThrow().settings().enabled()).isFalse();
  }

  @Test
  void verifyFindsADailyCounterOrAnAlertSnapshotThatDisagreesWithTheRecords() throws Exception {
    budget("u1", 1_000);
    repo.commit("nodes/A/" + UsageRepo.HOUR_10, batch(record("r1", "u1", 600, "2026-11-21T01:00:00Z")));
    run();
    assertThat(ledger.audit().verify()).isEmpty();
    exec("UPDATE daily_spend SET charged_cents = 599");
    exec("UPDATE budget_alert SET spent_cents = 700");
    assertThat(ledger.audit().verify()).extracting(Violation::rule, Violation::message).containsExactly(
        org.assertj.core.groups.Tuple.tuple("daily_spend", "wallet u1 counts 599 cents charged and 0 waived on "
            + "2026-11-21, but its records of that day were charged 600 and waived 0"),
        org.assertj.core.groups.Tuple.tuple("alert_snapshot", "the 50 % alert of wallet u1 for 2026-11 says 700 cents "
            + "spent of a budget of 1000, but its records of the cycle charged up to it come to 600"));
  }

  @Test
  void anAutoTopupIsRequestedOncePerCrossingWhileTheBalanceStaysLowAndAgainAfterACreditLiftedIt() throws Exception {
    ledger.walletStore().credit("u1", dev.meterd.ledger.TxnType.GRANT, 1_500, "ops", null);
    ledger.walletStore().updateSettings("u1", new WalletSettings.Patch(null, null, 1_000L, 5_000L, null), "ops");
    repo.commit("nodes/A/" + UsageRepo.HOUR_10, batch(record("r1", "u1", 400)));
    run();
    assertThat(ledger.reads().topupsDue()).isEmpty();

    // Below the threshold: one request, however many runs keep the balance low.
    for (int i = 2; i <= 5; i++) {
      repo.commit("nodes/A/" + UsageRepo.HOUR_10, batch(record("r" + i, "u1", 400)));
      run();
    }
    assertThat(balance("u1")).isEqualTo(1_500 - 5 * 400);
    assertThat(column("SELECT balance_cents || ' ' || amount_cents || ' ' || coalesce(lifted_at, 'open') "
        + "FROM topup_request ORDER BY request_id")).containsExactly("700 5000 open");
    assertThat(eventData("topup.requested")).containsExactly("{\"user_sid\":\"u1\",\"amount_cents\":5000,\"balance_cents\":700,\"threshold_cents\":1000,"
            + "\"requested_at\":\"2026-11-21T10:15:00Z\"}");
    assertThat(ledger.reads().topupsDue()).extracting(d -> d.userSid() + " " + d.balanceCents() + " "
        + d.thresholdCents() + " " + d.amountCents() + " " + d.requestedAt())
        .containsExactly("u1 -500 1000 5000 2026-11-21T10:15:00Z");

    // A grant that leaves it below the threshold lifts nothing; a top-up that reaches it does.
    ledger.walletStore().credit("u1", dev.meterd.ledger.TxnType.GRANT, 1_000, "ops", null);
    assertThat(column("SELECT count(*) FROM topup_request WHERE lifted_at IS NULL")).containsExactly("1");
    dev.meterd.ledger.LedgerTxn topup = ledger.walletStore().credit("u1", dev.meterd.ledger.TxnType.TOPUP, 5_000,
        "stripe", null);
    assertThat(column("SELECT lifted_by_txn_id FROM topup_request")).containsExactly(Long.toString(topup.txnId()));
    assertThat(ledger.reads().topupsDue()).isEmpty();

    // Usage takes it down again: a second request.
    repo.commit("nodes/A/" + UsageRepo.HOUR_11, batch(record("big", "u1", 5_000)));
    run();
    assertThat(column("SELECT balance_cents || ' ' || coalesce(lifted_at, 'open') FROM topup_request "
        + "ORDER BY request_id")).containsExactly("700 2026-11-21T10:30:00Z", "500 open");
    assertThat(column("SELECT count(*) FROM outbox_event WHERE type = 'topup.requested'")).containsExactly("2");
    assertThat(ledger.audit().verify()).isEmpty();
  }
}
