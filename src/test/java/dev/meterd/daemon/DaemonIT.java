package dev.meterd.daemon;

import static dev.meterd.testing.UsageRepo.HOUR_10;
import static dev.meterd.testing.UsageRepo.HOUR_11;
import static dev.meterd.testing.UsageRepo.batch;
import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.batch.BatchParser;
import dev.meterd.engine.Aggregator;
import dev.meterd.engine.FaultInjector;
import dev.meterd.engine.RunRequest;
import dev.meterd.ledger.SqliteLedger;
import dev.meterd.source.git.GitBatchSource;
import dev.meterd.testing.CountingSource;
import dev.meterd.testing.RunningDaemon;
import dev.meterd.testing.UsageRepo;
import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpRequest;
import io.vertx.ext.web.client.HttpResponse;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The daemon's HTTP API against the real server on a free loopback port. */
class DaemonIT {

  private static final String ADMIN_TOKEN = RunningDaemon.ADMIN_TOKEN;
  private static final String ALICE_TOKEN = RunningDaemon.ALICE_TOKEN;


  @TempDir
  Path tmp;

  private UsageRepo repo;
  private RunningDaemon daemon;

  @BeforeEach
  void setUp() throws Exception {
    repo = new UsageRepo(tmp.resolve("usage.git"));
  }

  @AfterEach
  void tearDown() throws Exception {
    if (daemon != null) {
      daemon.close();
    }
    repo.close();
  }

  private void startDaemon() throws Exception {
    daemon = new RunningDaemon(tmp, repo);
  }

  private HttpRequest<Buffer> request(String method, String path, String token) {
    return daemon.request(method, path, token);
  }

  private HttpResponse<Buffer> call(String method, String path, String token) throws Exception {
    return daemon.call(method, path, token);
  }

  private JsonObject json(String method, String path) throws Exception {
    return daemon.json(method, path);
  }

  private void awaitStartRun(int nodes) throws Exception {
    daemon.awaitStartRun(nodes);
  }

  @Test
  void refusesAdminRequestsWithoutOrWithAWrongTokenAndSaysNothingMore() throws Exception {
    startDaemon();
    for (String path : List.of("/admin/aggregator-state", "/admin/list-users", "/admin/wallets/u1")) {
      HttpResponse<Buffer> none = call("GET", path, null);
      assertThat(none.statusCode()).isEqualTo(401);
      assertThat(none.bodyAsJsonObject()).isEqualTo(new JsonObject().put("error", "unauthorized"));
      HttpResponse<Buffer> wrong = call("GET", path, ADMIN_TOKEN + "x");
      assertThat(wrong.statusCode()).isEqualTo(401);
      assertThat(wrong.bodyAsJsonObject()).isEqualTo(new JsonObject().put("error", "unauthorized"));
    }
    assertThat(call("POST", "/admin/aggregate-now", "Basic abc").statusCode()).isEqualTo(401);
    assertThat(call("GET", "/health", null).bodyAsJsonObject()).isEqualTo(new JsonObject().put("status", "ok"));
  }

  @Test
  void aRunTriggeredOverHttpDebitsExactlyAsTheCommandLineWould() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, batch(UsageRepo.record("a1", "u1", 10), UsageRepo.record("a2", "u2", 20)),
        "nodes/B/" + HOUR_10, batch(UsageRepo.record("b1", "u1", 7)));
    startDaemon();
    awaitStartRun(2);
    repo.commit("nodes/A/" + HOUR_11, batch(UsageRepo.record("a3", "u2", 5)));
    JsonObject summary = json("POST", "/admin/aggregate-now");
    assertThat(summary.getLong("records_consumed")).isEqualTo(1);
    assertThat(summary.getInteger("nodes_skipped")).isEqualTo(1);

    Path reference = tmp.resolve("reference.db");
    try (SqliteLedger ledger = SqliteLedger.open(reference, Clock.systemUTC());
        GitBatchSource source = GitBatchSource.open(repo.dir().toString(), "main", tmp.resolve("c2"), Optional.empty())) {
      new Aggregator(source, ledger, new BatchParser(BatchParser.Limits.DEFAULT), Clock.systemUTC(), FaultInjector.NONE)
          .run(RunRequest.ALL);
      for (String user : List.of("u1", "u2")) {
        assertThat(json("GET", "/admin/wallets/" + user).getLong("balance_cents"))
            .isEqualTo(ledger.reads().wallet(user).orElseThrow().balanceCents());
      }
    }
    JsonArray users = json("GET", "/admin/list-users").getJsonArray("wallets");
    assertThat(users.stream().map(w -> ((JsonObject) w).getString("user_sid"))).containsExactly("u1", "u2");
  }

  @Test
  void tenConcurrentTriggersGiveOneRunAndConflictsForTheRest() throws Exception {
    repo.commit("README.md", "usage of the edge nodes");
    startDaemon();
    awaitStartRun(0);
    List<String> files = new ArrayList<>();
    for (int n = 0; n < 150; n++) {
      files.add("nodes/n" + n + "/" + HOUR_10);
      files.add(batch(UsageRepo.record("k" + n, "u" + (n % 3), 1 + n)));
    }
    repo.commit(files.toArray(String[]::new));
    List<Future<HttpResponse<Buffer>>> calls = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      calls.add(request("POST", "/admin/aggregate-now", ADMIN_TOKEN).send());
    }
    List<Integer> statuses = new ArrayList<>();
    long debited = 0;
    for (Future<HttpResponse<Buffer>> f : calls) {
      HttpResponse<Buffer> r = RunningDaemon.get(f);
      statuses.add(r.statusCode());
      if (r.statusCode() == 200) {
        debited += r.bodyAsJsonObject().getLong("debited_cents");
      } else {
        assertThat(r.bodyAsJsonObject().getString("error")).contains("already in progress");
      }
    }
    assertThat(statuses).containsOnly(200, 409);
    assertThat(statuses.stream().filter(s -> s == 200).count()).isEqualTo(1);
    long expected = 150L * 151 / 2;
    assertThat(debited).isEqualTo(expected);
    long balances = 0;
    for (Object w : json("GET", "/admin/list-users").getJsonArray("wallets")) {
      balances += ((JsonObject) w).getLong("balance_cents");
    }
    assertThat(balances).isEqualTo(-expected);
  }

  @Test
  void grantsRacingWithChargesOnOneWalletLeaveItsBalanceExact() throws Exception {
    repo.commit("README.md", "usage of the edge nodes");
    startDaemon();
    awaitStartRun(0);
    List<String> files = new ArrayList<>();
    long charged = 0;
    for (int n = 0; n < 120; n++) {
      files.add("nodes/n" + n + "/" + HOUR_10);
      files.add(batch(UsageRepo.record("k" + n, "u0", 3 + n)));
      charged += 3 + n;
    }
    repo.commit(files.toArray(String[]::new));
    Future<HttpResponse<Buffer>> run = request("POST", "/admin/aggregate-now", ADMIN_TOKEN).send();
    List<Future<HttpResponse<Buffer>>> grants = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      grants.add(request("POST", "/admin/wallets/u0/grant", ALICE_TOKEN)
          .sendJsonObject(new JsonObject().put("amount_cents", 100)));
    }
    for (Future<HttpResponse<Buffer>> g : grants) {
      assertThat(RunningDaemon.get(g).statusCode()).isEqualTo(200);
    }
    assertThat(RunningDaemon.get(run).statusCode()).isEqualTo(200);
    assertThat(json("GET", "/admin/wallets/u0").getLong("balance_cents")).isEqualTo(20 * 100 - charged);
    assertThat(json("GET", "/admin/list-payments?limit=500").getJsonArray("transactions")).hasSize(20);
  }

  /**
   * A node's files are read before its transaction takes the write lock: a grant during a read
   * that stalls (a forge retrying a blob) is applied at once instead of waiting out the busy
   * timeout and answering 503.
   */
  @Test
  void aGrantDuringANodeWhoseReadStallsIsAppliedAtOnce() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, batch(UsageRepo.record("a1", "u1", 10)),
        "nodes/B/" + HOUR_10, batch(UsageRepo.record("b1", "u1", 7)));
    CountingSource source = new CountingSource(
        GitBatchSource.open(repo.dir().toString(), "main", tmp.resolve("clone"), Optional.empty()));
    source.stallingNode = "B";
    daemon = new RunningDaemon(tmp, source);
    assertThat(source.stalled.await(60, java.util.concurrent.TimeUnit.SECONDS)).isTrue();

    try {
      HttpResponse<Buffer> grant = RunningDaemon.get(request("POST", "/admin/wallets/u1/grant", ALICE_TOKEN)
          .sendJsonObject(new JsonObject().put("amount_cents", 500)));
      assertThat(grant.statusCode()).as(grant.bodyAsString()).isEqualTo(200);
      assertThat(json("GET", "/admin/wallets/u1").getLong("balance_cents")).isEqualTo(500 - 10);
      assertThat(json("GET", "/admin/aggregator-state").getJsonArray("nodes")).hasSize(1);
    } finally {
      source.release.countDown();
    }
    awaitStartRun(2);
    assertThat(json("GET", "/admin/wallets/u1").getLong("balance_cents")).isEqualTo(500 - 10 - 7);
  }

  @Test
  void aCommandLineRunBesideTheDaemonMakesATriggerAnswer409() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, batch(UsageRepo.record("a1", "u1", 10)));
    startDaemon();
    awaitStartRun(1);
    try (SqliteLedger cli = SqliteLedger.open(tmp.resolve("meterd.db"), java.time.Clock.systemUTC());
        var lock = cli.tryLockRun().orElseThrow()) {
      HttpResponse<Buffer> busy = call("POST", "/admin/aggregate-now", ADMIN_TOKEN);
      assertThat(busy.statusCode()).isEqualTo(409);
      assertThat(busy.bodyAsJsonObject().getString("error"))
          .isEqualTo("an aggregation run is already in progress on this database; try again when it has finished");
    }
    assertThat(call("POST", "/admin/aggregate-now", ADMIN_TOKEN).statusCode()).isEqualTo(200);
  }

  @Test
  void noGetRequestChangesTheDatabase() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, batch(UsageRepo.record("a1", "u1", 10)), "nodes/B/" + HOUR_10, "bad");
    startDaemon();
    awaitStartRun(2);
    try (java.sql.Connection c = java.sql.DriverManager.getConnection("jdbc:sqlite:" + tmp.resolve("meterd.db"));
        java.sql.Statement st = c.createStatement()) {
      long before = dataVersion(st);
      for (String path : List.of("/health", "/metrics", "/admin/aggregator-state", "/admin/list-users",
          "/admin/list-billing", "/admin/list-payments", "/admin/payments/unapplied", "/admin/wallets/u1",
          "/admin/usage/summary", "/admin/ui/", "/admin/ui/users", "/admin/ui/users/u1", "/admin/ui/payments", "/admin/ui/aggregator",
          "/admin/ui/alerts", "/admin/ui/topups", "/admin/ui/users/u1/settings", "/admin/ui/users/u1/credit",
          "/admin/ui/users/u1/holds/release",
          "/admin/aggregate-now", "/admin/wallets/u1/grant", "/admin/ui/aggregator/run",
          "/admin/ui/aggregator/resume")) {
        assertThat(call("GET", path, ADMIN_TOKEN).statusCode()).as(path).isIn(200, 404, 405);
      }
      assertThat(dataVersion(st)).as("another connection committed nothing").isEqualTo(before);
    }
    assertThat(json("GET", "/admin/aggregator-state").getJsonArray("nodes").getJsonObject(1).getString("status"))
        .isEqualTo("halted");
  }

  private static long dataVersion(java.sql.Statement st) throws java.sql.SQLException {
    try (java.sql.ResultSet rs = st.executeQuery("PRAGMA data_version")) {
      rs.next();
      return rs.getLong(1);
    }
  }

  @Test
  void theDaemonStaysUpAndServesWhileHostileFilesHaltTheirNodes() throws Exception {
    byte[] big = new byte[20 * 1024 * 1024];
    java.util.Arrays.fill(big, (byte) '#');
    repo.committer().commit("hostile", java.util.Map.of(
        "nodes/honest/" + HOUR_10, batch(UsageRepo.record("h1", "u1", 4)).getBytes(java.nio.charset.StandardCharsets.UTF_8),
        "nodes/big/" + HOUR_10, big,
        "nodes/deep/" + HOUR_10, ("a = " + "{b = ".repeat(5_000) + "1" + "}".repeat(5_000) + "\n")
            .getBytes(java.nio.charset.StandardCharsets.UTF_8)), java.util.Set.of(), java.time.Instant.now());
    startDaemon();
    awaitStartRun(3);
    assertThat(call("GET", "/health", null).statusCode()).isEqualTo(200);
    JsonArray nodes = json("GET", "/admin/aggregator-state").getJsonArray("nodes");
    assertThat(nodes.stream().map(n -> ((JsonObject) n).getString("node") + "=" + ((JsonObject) n).getString("status")))
        .containsExactly("big=halted", "deep=halted", "honest=ok");
    assertThat(json("GET", "/admin/wallets/u1").getLong("balance_cents")).isEqualTo(-4);
  }

  @Test
  void grantsAreAttributedToTheTokensNameAndValidated() throws Exception {
    startDaemon();
    HttpResponse<Buffer> ok = RunningDaemon.get(request("POST", "/admin/wallets/u9/grant", ALICE_TOKEN)
        .sendJsonObject(new JsonObject().put("amount_cents", 500).put("note", "welcome")));
    assertThat(ok.statusCode()).isEqualTo(200);
    assertThat(ok.bodyAsJsonObject().getString("initiated_by")).isEqualTo("alice");
    assertThat(ok.bodyAsJsonObject().getString("type")).isEqualTo("grant");
    assertThat(json("GET", "/admin/wallets/u9").getLong("balance_cents")).isEqualTo(500);

    for (Object bad : List.of(0, -1, 10001, 1.5, "5")) {
      HttpResponse<Buffer> r = RunningDaemon.get(request("POST", "/admin/wallets/u9/grant", ADMIN_TOKEN)
          .sendJsonObject(new JsonObject().put("amount_cents", bad)));
      assertThat(r.statusCode()).as("amount %s", bad).isEqualTo(400);
      assertThat(r.bodyAsJsonObject().getString("error")).startsWith("amount_cents must be");
    }
    HttpResponse<Buffer> notJson = RunningDaemon.get(request("POST", "/admin/wallets/u9/grant", ADMIN_TOKEN)
        .sendBuffer(Buffer.buffer("nope")));
    assertThat(notJson.statusCode()).isEqualTo(400);
    HttpResponse<Buffer> huge = RunningDaemon.get(request("POST", "/admin/wallets/u9/grant", ADMIN_TOKEN)
        .sendBuffer(Buffer.buffer("x".repeat(100_000))));
    assertThat(huge.statusCode()).isEqualTo(413);
    assertThat(huge.bodyAsJsonObject().getString("error")).contains("request body over");
    assertThat(json("GET", "/admin/wallets/u9").getLong("balance_cents")).isEqualTo(500);
    assertThat(call("GET", "/admin/wallets/nobody", ADMIN_TOKEN).statusCode()).isEqualTo(404);
  }

  @Test
  void paymentsAndBillingArePaginatedNewestFirst() throws Exception {
    startDaemon();
    for (int i = 1; i <= 5; i++) {
      assertThat(RunningDaemon.get(request("POST", "/admin/wallets/u1/grant", ADMIN_TOKEN)
          .sendJsonObject(new JsonObject().put("amount_cents", i))).statusCode()).isEqualTo(200);
    }
    JsonObject first = json("GET", "/admin/list-payments?limit=2");
    assertThat(amounts(first)).containsExactly(5L, 4L);
    JsonObject second = json("GET", "/admin/list-payments?limit=2&cursor=" + first.getString("next_cursor"));
    assertThat(amounts(second)).containsExactly(3L, 2L);
    JsonObject third = json("GET", "/admin/list-billing?limit=2&cursor=" + second.getString("next_cursor"));
    assertThat(amounts(third)).containsExactly(1L);
    assertThat(third.getValue("next_cursor")).isNull();
    assertThat(call("GET", "/admin/list-billing?limit=0", ADMIN_TOKEN).statusCode()).isEqualTo(400);
    assertThat(call("GET", "/admin/list-billing?cursor=x", ADMIN_TOKEN).statusCode()).isEqualTo(400);
  }

  private static List<Long> amounts(JsonObject page) {
    return page.getJsonArray("transactions").stream().map(t -> ((JsonObject) t).getLong("amount_cents")).toList();
  }

  @Test
  void theUsageSummarySumsTheConsumedRecordsByDayWeekAndMonth() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, batch(
        rec("d1", 10, "2026-11-20T23:59:59Z"), rec("d2", 20, "2026-11-21T00:00:00Z"),
        rec("d3", 5, "2026-11-21T12:00:00+05:00"), rec("d4", 1, "2026-12-01T00:00:00Z")));
    startDaemon();
    awaitStartRun(1);
    assertThat(json("GET", "/admin/usage/summary?bucket=day")).isEqualTo(new JsonObject("""
        {"bucket":"day","buckets":[
          {"start":"2026-11-20","records":1,"cost_cents":10,"charged_cents":10,"waived_cents":0},
          {"start":"2026-11-21","records":2,"cost_cents":25,"charged_cents":25,"waived_cents":0},
          {"start":"2026-12-01","records":1,"cost_cents":1,"charged_cents":1,"waived_cents":0}]}"""));
    assertThat(json("GET", "/admin/usage/summary?bucket=week")).isEqualTo(new JsonObject("""
        {"bucket":"week","buckets":[
          {"start":"2026-11-16","records":3,"cost_cents":35,"charged_cents":35,"waived_cents":0},
          {"start":"2026-11-30","records":1,"cost_cents":1,"charged_cents":1,"waived_cents":0}]}"""));
    assertThat(json("GET", "/admin/usage/summary?bucket=month&from=2026-11-21&to=2026-12-01")).isEqualTo(new JsonObject("""
        {"bucket":"month","buckets":[{"start":"2026-11-01","records":2,"cost_cents":25,"charged_cents":25,"waived_cents":0}]}"""));
    assertThat(call("GET", "/admin/usage/summary?bucket=year", ADMIN_TOKEN).statusCode()).isEqualTo(400);
    assertThat(call("GET", "/admin/usage/summary?from=yesterday", ADMIN_TOKEN).statusCode()).isEqualTo(400);
  }

  private static String rec(String key, long cost, String at) {
    return "\n[[records]]\nidempotency_key = \"" + key + "\"\nuser_sid = \"u1\"\ncost_cents = " + cost
        + "\noccurred_at = " + at + "\n";
  }

  @Test
  void metricsAreInPrometheusFormatAndNamedMeterd() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, batch(UsageRepo.record("a1", "u1", 10)), "nodes/B/" + HOUR_10, "bad toml");
    startDaemon();
    awaitStartRun(2);
    String text = call("GET", "/metrics", null).bodyAsString();
    assertThat(text).contains("meterd_records_consumed_total 1.0")
        .contains("meterd_debited_cents_total 10.0")
        .contains("meterd_nodes_halted 1.0")
        .contains("meterd_runs_total{outcome=\"halted\"}")
        .contains("meterd_run_duration_seconds_count")
        .contains("meterd_last_success_age_seconds")
        .contains("meterd_newest_consumed_occurred_at_seconds 1.795255203E9");
  }

  @Test
  void aRunThatCannotReachTheSourceAnswers503WithTheReason() throws Exception {
    startDaemon();
    HttpResponse<Buffer> r = call("POST", "/admin/aggregate-now", ADMIN_TOKEN);
    // The run at start fails the same way; until it has, a trigger answers 409.
    for (int i = 0; i < 100 && r.statusCode() == 409; i++) {
      Thread.sleep(50);
      r = call("POST", "/admin/aggregate-now", ADMIN_TOKEN);
    }
    assertThat(r.statusCode()).isEqualTo(503);
    assertThat(r.bodyAsJsonObject().getString("error")).isEqualTo("the usage repository " + repo.dir()
        + " has no branch main");
  }

  @Test
  void unknownPathsAndErrorsAreJson() throws Exception {
    startDaemon();
    HttpResponse<Buffer> r = call("GET", "/admin/nothing-here", ADMIN_TOKEN);
    assertThat(r.statusCode()).isEqualTo(404);
    assertThat(r.bodyAsJsonObject().getString("error")).isEqualTo("no such endpoint: GET /admin/nothing-here");
  }
}
