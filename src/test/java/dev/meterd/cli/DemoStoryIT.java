package dev.meterd.cli;

import static dev.meterd.testing.UsageRepo.batch;
import static dev.meterd.testing.UsageRepo.record;
import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.ledger.SqliteLedger;
import dev.meterd.testing.MutableClock;
import dev.meterd.testing.RunningDaemon;
import dev.meterd.testing.UsageRepo;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The story {@code serve --demo} plays, step by step on a clock the test moves, against the real
 * daemon: funded wallets with policies, the lab node halting on its bad record and resuming on its
 * fix, and a top-up request paid once.
 */
class DemoStoryIT {

  @TempDir
  Path tmp;

  private final MutableClock clock = new MutableClock(Instant.parse("2026-11-21T10:05:00Z"));
  private UsageRepo repo;
  private RunningDaemon daemon;
  private SqliteLedger ledger;
  private DemoStory story;

  @BeforeEach
  void setUp() throws Exception {
    repo = new UsageRepo(tmp.resolve("usage.git"));
    repo.commit("README", "the demo story's test repository\n");
    daemon = new RunningDaemon(tmp, repo, clock, "");
    daemon.awaitStartRun(0);
    ledger = SqliteLedger.open(daemon.dbFile(), clock);
    story = new DemoStory(repo.dir(), "main", ledger, clock);
  }

  @AfterEach
  void tearDown() throws Exception {
    story.close();
    ledger.close();
    daemon.close();
    repo.close();
  }

  private JsonObject run() throws Exception {
    return daemon.json("POST", "/admin/aggregate-now");
  }

  private JsonObject labNode() throws Exception {
    JsonArray nodes = daemon.json("GET", "/admin/aggregator-state").getJsonArray("nodes");
    return nodes.stream().map(JsonObject.class::cast).filter(n -> n.getString("node").equals(DemoStory.LAB_NODE))
        .findFirst().orElseThrow();
  }

  @Test
  void fundsTheWalletsWithGrantsAndPolicies() throws Exception {
    story.fundWallets();
    JsonObject alice = daemon.json("GET", "/admin/wallets/u_alice");
    assertThat(alice.getLong("balance_cents")).isEqualTo(5_000);
    assertThat(alice.getLong("monthly_budget_cents")).isEqualTo(1_000);
    assertThat(daemon.json("GET", "/admin/wallets/u_bob").getLong("daily_cap_cents")).isEqualTo(500);
    JsonObject carol = daemon.json("GET", "/admin/wallets/u_carol");
    assertThat(carol.getLong("balance_cents")).isEqualTo(1_500);
    assertThat(carol.getLong("auto_topup_threshold_cents")).isEqualTo(1_000);
    assertThat(carol.getLong("auto_topup_amount_cents")).isEqualTo(2_500);
    assertThat(daemon.transactions("/admin/list-payments").stream().map(JsonObject.class::cast)
        .map(t -> t.getString("initiated_by") + " " + t.getString("type") + " " + t.getLong("amount_cents")))
        .containsExactly("demo grant 1500", "demo grant 2000", "demo grant 5000");
  }

  @Test
  void theLabNodeHaltsOnItsBadRecordAndItsFixResumesIt() throws Exception {
    story.commitGoodRecords();
    assertThat(run().getInteger("records_consumed")).isEqualTo(2);
    assertThat(labNode().getString("status")).isEqualTo("ok");

    story.commitBadRecord();
    JsonObject halted = run();
    assertThat(halted.getInteger("nodes_halted")).isEqualTo(1);
    assertThat(halted.getJsonArray("halted").getJsonObject(0).getString("error"))
        .isEqualTo("cost_cents must be >= 0, got -5");
    assertThat(labNode().getString("status")).isEqualTo("halted");

    story.commitFix();
    JsonObject resumed = run();
    assertThat(resumed.getInteger("nodes_halted")).isZero();
    assertThat(resumed.getInteger("records_consumed")).isEqualTo(1);
    assertThat(labNode().getString("status")).isEqualTo("ok");
    List<String> events = daemon.json("GET", "/admin/webhooks/deliveries").getJsonArray("deliveries").stream()
        .map(JsonObject.class::cast).map(d -> d.getString("type")).filter(t -> t.startsWith("node.")).toList();
    // The wallets were not funded in this test: their charges also wrote wallet.depleted events.
    assertThat(events).containsExactly("node.resumed", "node.halted");
  }

  @Test
  void aTopUpRequestIsPaidOnceAfterTheProvidersDelay() throws Exception {
    story.fundWallets();
    repo.commit("nodes/A/" + UsageRepo.HOUR_10, batch(record("c1", "u_carol", 600)));
    run();
    JsonObject due = daemon.json("GET", "/admin/topups/due").getJsonArray("wallets").getJsonObject(0);
    assertThat(due.getString("user_sid")).isEqualTo("u_carol");
    assertThat(due.getString("requested_at")).isEqualTo("2026-11-21T10:05:00Z");

    clock.advance(Duration.ofSeconds(DemoStory.PAY_AFTER_SECONDS - 1));
    story.payTopups();
    assertThat(daemon.balance("u_carol")).isEqualTo(900);
    clock.advance(Duration.ofSeconds(1));
    story.payTopups();
    story.payTopups();
    assertThat(daemon.balance("u_carol")).isEqualTo(3_400);
    JsonObject topup = daemon.transactions("/admin/list-payments").getJsonObject(0);
    assertThat(topup.getString("type")).isEqualTo("topup");
    assertThat(topup.getString("payment_id")).isEqualTo("demo_pi_u_carol_" + Instant.parse("2026-11-21T10:05:00Z")
        .toEpochMilli());
    assertThat(topup.getString("initiated_by")).isEqualTo("demo-payments");
    assertThat(daemon.json("GET", "/admin/topups/due").getJsonArray("wallets")).isEmpty();
  }
}
