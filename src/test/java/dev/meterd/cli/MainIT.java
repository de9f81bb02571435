package dev.meterd.cli;

import static dev.meterd.testing.UsageRepo.HOUR_10;
import static dev.meterd.testing.UsageRepo.HOUR_11;
import static dev.meterd.testing.UsageRepo.batch;
import static dev.meterd.testing.UsageRepo.record;
import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.ledger.SqliteLedger;
import dev.meterd.ledger.TxnType;
import dev.meterd.testing.MutableClock;
import dev.meterd.testing.UsageRepo;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.Map;
import org.eclipse.jgit.api.Git;
import org.eclipse.jgit.lib.ObjectId;
import org.eclipse.jgit.lib.Repository;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The command line in-process: exact JSON fields and exit codes of the interface spec. */
class MainIT {

  @TempDir
  Path tmp;

  private UsageRepo repo;
  private String out;
  private String err;

  @BeforeEach
  void setUp() throws Exception {
    repo = new UsageRepo(tmp.resolve("usage.git"));
  }

  @AfterEach
  void tearDown() {
    repo.close();
  }

  private int meterd(String... args) {
    List<String> all = new ArrayList<>(List.of(args));
    all.addAll(List.of("--db", tmp.resolve("meterd.db").toString(), "--source", repo.dir().toString()));
    return raw(all.toArray(String[]::new));
  }

  private int raw(String... args) {
    return withEnv(Map.of(), args);
  }

  private int withEnv(Map<String, String> env, String... args) {
    ByteArrayOutputStream o = new ByteArrayOutputStream();
    ByteArrayOutputStream e = new ByteArrayOutputStream();
    int code = Main.execute(args, new PrintStream(o, true, StandardCharsets.UTF_8),
        new PrintStream(e, true, StandardCharsets.UTF_8), env);
    out = o.toString(StandardCharsets.UTF_8);
    err = e.toString(StandardCharsets.UTF_8);
    return code;
  }

  private JsonObject lastLine() {
    String[] lines = out.strip().split("\n");
    return new JsonObject(lines[lines.length - 1]);
  }

  /**
   * A remote that accepts the connection and never answers fails the fetch after
   * [source] timeout_seconds (exit 3, the remote named) instead of hanging the run.
   */
  @Test
  void aRemoteThatNeverAnswersFailsTheRunAfterTheTransportTimeout() throws Exception {
    try (dev.meterd.testing.SilentServer remote = new dev.meterd.testing.SilentServer()) {
      String url = "http://127.0.0.1:" + remote.port() + "/usage.git";
      Path config = tmp.resolve("meterd.toml");
      Files.writeString(config, """
          [source]
          url = "%s"
          timeout_seconds = 1
          clone_dir = "%s"
          """.formatted(url, tmp.resolve("clone")));

      // The deadline only keeps a regression from hanging the build; the timeout under test is 1 s.
      int code = org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(Duration.ofSeconds(120),
          () -> raw("aggregate", "--once", "--config", config.toString(), "--db", tmp.resolve("meterd.db").toString()));

      assertThat(code).as(err).isEqualTo(3);
      assertThat(err).startsWith("meterd: cannot fetch branch main from " + url + ": ")
          .contains("the remote did not answer within 1 s ([source] timeout_seconds)");
      assertThat(remote.connections()).isGreaterThanOrEqualTo(1);
    }
  }

  @Test
  void aggregatePrintsTheRunSummaryWithEveryField() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 10), record("a2", "u2", 20)));
    assertThat(meterd("aggregate", "--once")).isEqualTo(0);
    JsonObject s = lastLine();
    assertThat(s.fieldNames()).containsExactlyInAnyOrder("run_id", "dry_run", "started_at", "duration_ms", "head_sha",
        "nodes_total", "nodes_skipped", "nodes_consumed", "nodes_halted", "records_consumed", "records_duplicate",
        "debited_cents", "ignored", "halted");
    assertThat(s.getString("run_id")).startsWith("r-");
    assertThat(s.getBoolean("dry_run")).isFalse();
    assertThat(s.getString("head_sha")).isEqualTo(repo.tip());
    assertThat(s.getInteger("nodes_total")).isEqualTo(1);
    assertThat(s.getInteger("nodes_consumed")).isEqualTo(1);
    assertThat(s.getLong("records_consumed")).isEqualTo(2);
    assertThat(s.getLong("debited_cents")).isEqualTo(30);
    assertThat(s.getJsonArray("halted")).isEmpty();
  }

  @Test
  void aggregateExitsOneWhenANodeHaltsAndNamesTheFileAndLine() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 10)),
        "nodes/B/" + HOUR_10, "schema = 1\n[[records]]\nidempotency_key = \"b\"\nuser_sid = \"u\"\n"
            + "cost_cents = 1.5\noccurred_at = 2026-11-21T10:00:00Z\n");
    assertThat(meterd("aggregate", "--once")).isEqualTo(1);
    JsonObject s = lastLine();
    assertThat(s.getInteger("nodes_halted")).isEqualTo(1);
    assertThat(s.getJsonArray("halted").getJsonObject(0)).isEqualTo(new JsonObject()
        .put("node", "B").put("file", "nodes/B/" + HOUR_10).put("line", 5)
        .put("error", "cost_cents must be an integer, got a float"));
    assertThat(s.getLong("records_consumed")).isEqualTo(1);

    assertThat(meterd("status")).isEqualTo(0);
    JsonObject b = new JsonObject(out.strip()).getJsonArray("nodes").getJsonObject(1);
    assertThat(b.fieldNames()).contains("node", "status", "last_commit_sha", "last_run_at", "records_consumed_total",
        "last_error", "halted_since");
    assertThat(b.getString("node")).isEqualTo("B");
    assertThat(b.getString("status")).isEqualTo("halted");
    assertThat(b.getString("last_commit_sha")).isNull();
    assertThat(b.getJsonObject("last_error").getString("file")).isEqualTo("nodes/B/" + HOUR_10);
    assertThat(b.getJsonObject("last_error").getInteger("line")).isEqualTo(5);
    assertThat(b.getString("halted_since")).isNotNull();
  }

  @Test
  void dryRunReportsButWritesNothing() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 10)));
    assertThat(meterd("aggregate", "--once", "--dry-run")).isEqualTo(0);
    assertThat(lastLine().getBoolean("dry_run")).isTrue();
    assertThat(lastLine().getLong("records_consumed")).isEqualTo(1);
    assertThat(meterd("wallet", "list")).isEqualTo(0);
    assertThat(new JsonObject(out.strip()).getJsonArray("wallets")).isEmpty();
  }

  @Test
  void aggregateOnlyTheNamedNodes() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 10)), "nodes/B/" + HOUR_10, batch(record("b1", "u1", 1)));
    assertThat(meterd("aggregate", "--once", "--node", "B")).isEqualTo(0);
    assertThat(lastLine().getInteger("nodes_total")).isEqualTo(1);
    assertThat(lastLine().getLong("debited_cents")).isEqualTo(1);
  }

  @Test
  void usageErrorsExitTwoWithOneSentence() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 10)));
    assertThat(meterd("aggregate")).isEqualTo(2);
    assertThat(err.strip()).isEqualTo("meterd: aggregate needs --once (to run on a timer, use `meterd serve`)");
    assertThat(meterd("aggregate", "--once", "--node", "ghost")).isEqualTo(2);
    assertThat(err).contains("no node folder nodes/ghost");
    assertThat(meterd("aggregate", "--once", "--no-such-flag")).isEqualTo(2);
  }

  @Test
  void aMissingSourceExitsThreeAndSaysWhatToDo() {
    assertThat(raw("aggregate", "--once", "--db", tmp.resolve("m.db").toString(), "--source",
        tmp.resolve("nowhere").toString())).isEqualTo(3);
    assertThat(err.strip()).isEqualTo("meterd: the usage repository " + tmp.resolve("nowhere")
        + " does not exist; no node was half applied (nodes committed before stay committed), fix the cause and run again");
    assertThat(err).doesNotContain("Exception");
  }

  @Test
  void walletShowListsTransactionsWithTheirSourceAndExitsOneForNoWallet() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 10), record("a2", "u1", 5)));
    meterd("aggregate", "--once");
    assertThat(meterd("wallet", "grant", "u1", "500", "--by", "alice", "--note", "welcome")).isEqualTo(0);
    JsonObject grant = new JsonObject(out.strip());
    assertThat(grant.getString("type")).isEqualTo("grant");
    assertThat(grant.getLong("amount_cents")).isEqualTo(500);
    assertThat(grant.getString("initiated_by")).isEqualTo("alice");
    assertThat(grant.getString("note")).isEqualTo("welcome");

    assertThat(meterd("wallet", "show", "u1")).isEqualTo(0);
    JsonObject w = new JsonObject(out.strip());
    assertThat(w.getLong("balance_cents")).isEqualTo(485);
    assertThat(w.getBoolean("depleted")).isFalse();
    assertThat(w.getJsonArray("transactions")).hasSize(2);
    JsonObject charge = w.getJsonArray("transactions").getJsonObject(1);
    assertThat(charge.getString("type")).isEqualTo("charge");
    assertThat(charge.getLong("amount_cents")).isEqualTo(-15);
    assertThat(charge.getString("initiated_by")).isEqualTo("aggregator");
    assertThat(charge.getJsonObject("source")).isEqualTo(new JsonObject()
        .put("node", "A").put("commit", repo.newestTouching("A")).put("records", 2));

    assertThat(meterd("wallet", "show", "nobody")).isEqualTo(1);
    assertThat(err.strip()).isEqualTo("meterd: no wallet for user nobody; a wallet opens at its first charge or grant");
  }

  @ParameterizedTest
  @ValueSource(strings = {"0", "-5", "abc", "1000001", "9999999999999999999999"})
  void grantRejectsAnInvalidAmountWithExitTwo(String amount) {
    assertThat(meterd("wallet", "grant", "u1", amount, "--by", "alice")).isEqualTo(2);
    assertThat(err).startsWith("meterd: AMOUNT_CENTS must be");
    assertThat(meterd("wallet", "list")).isEqualTo(0);
    assertThat(new JsonObject(out.strip()).getJsonArray("wallets")).isEmpty();
  }

  @Test
  void aGrantThatWouldPassTheLargestBalanceExitsTwoAndCreditsNothing() throws Exception {
    try (SqliteLedger ledger = SqliteLedger.open(tmp.resolve("meterd.db"),
        new MutableClock(Instant.parse("2026-11-21T10:05:00Z")))) {
      ledger.walletStore().credit("u1", TxnType.GRANT, Long.MAX_VALUE - 5, "alice", null);
    }
    assertThat(meterd("wallet", "grant", "u1", "10", "--by", "alice")).isEqualTo(2);
    assertThat(err.strip()).isEqualTo("meterd: the balance of wallet u1 (9223372036854775802 cents) cannot take "
        + "a change of 10 cents: it would leave the 64-bit range of cents; nothing was applied");
    assertThat(meterd("wallet", "show", "u1")).isEqualTo(0);
    assertThat(new JsonObject(out.strip()).getLong("balance_cents")).isEqualTo(Long.MAX_VALUE - 5);
    assertThat(meterd("verify")).isEqualTo(0);
  }

  @Test
  void nodeResumeClearsAHaltAndExitsOneForNoSuchNode() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, "not toml at all");
    assertThat(meterd("aggregate", "--once")).isEqualTo(1);
    assertThat(meterd("node", "resume", "A")).isEqualTo(0);
    JsonObject state = new JsonObject(out.strip());
    assertThat(state.getString("status")).isEqualTo("ok");
    assertThat(state.getValue("last_error")).isNull();
    assertThat(meterd("node", "resume", "ghost")).isEqualTo(1);
    assertThat(err.strip()).isEqualTo("meterd: no node named ghost; `meterd status` lists the nodes");
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 10)), "nodes/A/" + HOUR_11, batch());
    assertThat(meterd("aggregate", "--once")).isEqualTo(0);
  }

  @Test
  void verifyPassesOnAnIntactLedgerAndFailsWhenARowWasChanged() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 10), record("a2", "u2", 7)));
    meterd("aggregate", "--once");
    meterd("wallet", "grant", "u1", "100", "--by", "alice");
    assertThat(meterd("verify")).isEqualTo(0);
    assertThat(new JsonObject(out.strip())).isEqualTo(new JsonObject("{\"ok\":true,\"violations\":[]}"));

    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + tmp.resolve("meterd.db"));
        Statement st = c.createStatement()) {
      st.execute("DROP TRIGGER ledger_txn_no_update");
      st.execute("UPDATE ledger_txn SET amount_cents = 999 WHERE type = 'grant'");
    }
    assertThat(meterd("verify")).isEqualTo(1);
    JsonObject report = new JsonObject(out.strip());
    assertThat(report.getBoolean("ok")).isFalse();
    assertThat(report.getJsonArray("violations").stream().map(v -> ((JsonObject) v).getString("rule")))
        .containsExactly("wallet_balance", "hash_chain");
  }

  @Test
  void verifyReplayRebuildsFromHistoryAndFindsWhatTheLedgerCannotExplain() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 10), record("a2", "u2", 7)));
    meterd("aggregate", "--once");
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 10), record("a2", "u2", 7), record("a3", "u1", 1)),
        "nodes/B/" + HOUR_10, batch(record("b1", "u3", 4)));
    meterd("aggregate", "--once");
    repo.delete("nodes/A/" + HOUR_10);
    repo.commit("nodes/A/" + HOUR_11, batch(record("a4", "u1", 2)));
    meterd("aggregate", "--once");
    repo.commit("nodes/B/" + HOUR_11, batch(record("b2", "u3", 9)));
    assertThat(meterd("verify", "--replay")).isEqualTo(0);
    assertThat(new JsonObject(out.strip()).getBoolean("ok")).isTrue();
    assertThat(err).contains("replayed 7 records from the history");

    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + tmp.resolve("meterd.db"));
        Statement st = c.createStatement()) {
      st.execute("DROP TRIGGER consumed_newest_no_delete");
      st.execute("DELETE FROM consumed_newest WHERE idempotency_key = 'a2'");
      st.execute("INSERT INTO consumed_newest (node_id, idempotency_key, wallet_id, cost_cents, occurred_at_ms, "
          + "txn_id, file_id) SELECT node_id, 'forged', wallet_id, 7, 0, txn_id, file_id FROM consumed_newest "
          + "WHERE idempotency_key = 'a1'");
    }
    assertThat(meterd("verify", "--replay")).isEqualTo(1);
    JsonObject report = new JsonObject(out.strip());
    assertThat(report.getJsonArray("violations").stream().map(v -> ((JsonObject) v).getString("rule")))
        .contains("replay_unexplained", "replay_lost");
    assertThat(report.encode()).contains("record forged of node A is consumed, but no file")
        .contains("record a2 of node A is in the node's files at a consumed commit but was never consumed");
  }

  @Test
  void verifyReplayFindsARecordWhoseCostWasChangedWhereTheInvariantsCannot() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 10), record("a2", "u1", 5)));
    assertThat(meterd("aggregate", "--once")).isEqualTo(0);
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + tmp.resolve("meterd.db"));
        Statement st = c.createStatement()) {
      // Moving cents between two records of one charge keeps the charge equal to its records.
      st.execute("DROP TRIGGER consumed_newest_no_update");
      st.execute("UPDATE consumed_newest SET cost_cents = 12 WHERE idempotency_key = 'a1'");
      st.execute("UPDATE consumed_newest SET cost_cents = 3 WHERE idempotency_key = 'a2'");
    }
    assertThat(meterd("verify")).isEqualTo(0);
    assertThat(meterd("verify", "--replay")).isEqualTo(1);
    assertThat(new JsonObject(out.strip())).isEqualTo(new JsonObject().put("ok", false).put("violations",
        new JsonArray()
            .add(new JsonObject().put("rule", "replay_differs").put("message",
                "record a1 of node A was consumed for u1 at 12 cents; history says u1 at 10"))
            .add(new JsonObject().put("rule", "replay_differs").put("message",
                "record a2 of node A was consumed for u1 at 3 cents; history says u1 at 5"))));
  }

  @Test
  void verifyReplayNamesAChargedCommitThatARewriteAndAGcRemoved() throws Exception {
    String base = repo.commit("nodes/B/" + HOUR_10, batch(record("b1", "u2", 4)));
    String charged = repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 10)));
    assertThat(meterd("aggregate", "--once")).isEqualTo(0);
    // A force push replaces the charged commit by one with the same files; the next run moves
    // node A's cursor to it and charges nothing; then the old commit is collected.
    repo.committer().forceBranch(base);
    String rewritten = repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 10)));
    assertThat(meterd("aggregate", "--once")).isEqualTo(0);
    assertThat(lastLine().getLong("debited_cents")).isZero();
    // Every unreachable object is older than a day from now: the gc prunes them all.
    Repository git = repo.committer().repository();
    Git.wrap(git).gc().setExpire(Date.from(Instant.now().plus(Duration.ofDays(1)))).call();
    assertThat(git.getObjectDatabase().has(ObjectId.fromString(charged))).isFalse();

    assertThat(meterd("verify")).isEqualTo(0);
    assertThat(meterd("verify", "--replay")).isEqualTo(1);
    assertThat(new JsonObject(out.strip())).isEqualTo(new JsonObject().put("ok", false).put("violations",
        new JsonArray().add(new JsonObject().put("rule", "replay_missing_commit").put("message",
            "commit " + charged + " of node A is not in the repository (history rewritten and collected?); "
                + "its records cannot be replayed"))));
    assertThat(meterd("status")).isEqualTo(0);
    assertThat(new JsonObject(out.strip()).getJsonArray("nodes").getJsonObject(0).getString("last_commit_sha"))
        .isEqualTo(rewritten);
  }

  @Test
  void aBadConfigurationListsEveryProblemAndExitsTwo() throws Exception {
    Path config = tmp.resolve("bad.toml");
    Files.writeString(config, "[aggregator]\ninterval_seconds = 0\ncolour = \"red\"\n[http]\nlisten = \"nope\"\n");
    assertThat(raw("status", "--config", config.toString())).isEqualTo(2);
    assertThat(err).contains("aggregator.interval_seconds must be 1 to 86400, got 0")
        .contains("unknown key aggregator.colour")
        .contains("http.listen = \"nope\" must be HOST:PORT");
  }

  @Test
  void aWriteLockHeldPastTheBusyTimeoutStopsTheRunWithNothingApplied() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 10)));
    Path config = tmp.resolve("busy.toml");
    Files.writeString(config, "[storage]\nbusy_timeout_ms = 300\n");
    assertThat(meterd("status", "--config", config.toString())).isEqualTo(0);
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + tmp.resolve("meterd.db"));
        Statement st = c.createStatement()) {
      st.execute("BEGIN IMMEDIATE");
      assertThat(meterd("aggregate", "--once", "--config", config.toString())).isEqualTo(3);
      assertThat(err).contains("database is locked").contains("no node was half applied (nodes committed before stay committed), fix the cause and run again");
      st.execute("ROLLBACK");
    }
    assertThat(meterd("wallet", "list")).isEqualTo(0);
    assertThat(new JsonObject(out.strip()).getJsonArray("wallets")).isEmpty();
    assertThat(meterd("aggregate", "--once", "--config", config.toString())).isEqualTo(0);
    assertThat(lastLine().getLong("records_consumed")).isEqualTo(1);
  }

  @Test
  void serveRefusesToStartWithoutAnAdminTokenAndSaysHowToSetOne() {
    assertThat(meterd("serve")).isEqualTo(2);
    assertThat(err.strip()).startsWith("meterd: serve needs an admin token: set METERD_ADMIN_TOKEN");
  }

  @Test
  void serveRefusesAPaymentWebhookSecretThatCannotBeRight() {
    assertThat(withEnv(Map.of("METERD_ADMIN_TOKEN", "admin-token-0123456789", "METERD_PAYMENT_WEBHOOK_SECRET",
        "whsec_short"), "serve", "--db", tmp.resolve("meterd.db").toString(), "--source", repo.dir().toString()))
        .isEqualTo(2);
    assertThat(err.strip()).isEqualTo("meterd: invalid configuration METERD_PAYMENT_WEBHOOK_SECRET:\n  it must be "
        + "the payment provider's signing secret for the endpoint (Stripe's whsec_...), at least 16 characters");
  }

  @Test
  void serveRefusesAWebhookUrlWithoutAValidSigningSecret() throws Exception {
    Path config = tmp.resolve("notify.toml");
    java.nio.file.Files.writeString(config, "[notify]\nwebhook_url = \"http://127.0.0.1:9/hook\"\n");
    Map<String, String> token = Map.of("METERD_ADMIN_TOKEN", "admin-token-0123456789");
    assertThat(withEnv(token, "serve", "--config", config.toString(), "--db", tmp.resolve("m.db").toString()))
        .isEqualTo(2);
    assertThat(err.strip()).isEqualTo("meterd: [notify] webhook_url is set but METERD_WEBHOOK_SECRET is not: set it to "
        + "the secret the receiver verifies with, whsec_ followed by a base64 key of 24 to 64 bytes (e.g. from "
        + "`echo whsec_$(openssl rand -base64 32)`)");
    Map<String, String> badSecret = new java.util.HashMap<>(token);
    badSecret.put("METERD_WEBHOOK_SECRET", "hunter2-hunter2-hunter2-hunter2");
    assertThat(withEnv(badSecret, "serve", "--config", config.toString(), "--db", tmp.resolve("m.db").toString()))
        .isEqualTo(2);
    assertThat(err.strip()).isEqualTo("meterd: invalid configuration METERD_WEBHOOK_SECRET:\n  METERD_WEBHOOK_SECRET "
        + "must be whsec_ followed by a base64 key; make one with: echo whsec_$(openssl rand -base64 32)");
  }

  @Test
  void demoRepoCreatesARepositoryThatAggregates() {
    Path demo = tmp.resolve("demo.git");
    assertThat(raw("demo-repo", demo.toString())).isEqualTo(0);
    assertThat(raw("aggregate", "--once", "--db", tmp.resolve("d.db").toString(), "--source", demo.toString()))
        .isEqualTo(0);
    assertThat(lastLine().getLong("records_consumed")).isEqualTo(30);
    assertThat(raw("demo-repo", demo.toString())).isEqualTo(2);
  }

  @Test
  void benchRunsEndToEndOnATinyRepository() {
    assertThat(raw("bench", "--nodes", "10", "--files", "2", "--records", "3", "--commits", "3", "--polls", "2"))
        .isEqualTo(0);
    assertThat(out.lines().findFirst()).hasValue("options: 10 nodes x 2 files x 3 records, 1000 users shared by every node");
    assertThat(out).contains("generating 60 records in 3 commits ...")
        .contains("full run: 60 records in")
        .contains("no-change poll of 10 nodes: median")
        .contains("poll where 10 of 10 nodes changed (3 records each)")
        .contains("verify: 0 violations")
        .contains("verify --replay: 270 records replayed from history, 0 violations");
    assertThat(raw("bench", "parse", "--records", "100", "--rounds", "1")).isEqualTo(0);
    assertThat(out).contains("meterd (strict TOML 1.0, validated records)").contains("tomlj");
  }

  @Test
  void serveRefusesAnEnforcementVariableThatIsNeitherTrueNorFalse() {
    assertThat(withEnv(Map.of("METERD_CREDIT_ENFORCEMENT_ENABLED", "on", "METERD_ADMIN_TOKEN", "0123456789abcdef"),
        "serve", "--db", tmp.resolve("meterd.db").toString())).isEqualTo(2);
    assertThat(err.strip()).isEqualTo("meterd: invalid configuration in the environment:\n"
        + "  METERD_CREDIT_ENFORCEMENT_ENABLED must be true or false, got \"on\"; unset it to use [enforcement] "
        + "enabled of the configuration");
  }

  @Test
  void benchAuthorizeDrivesTheRealServerOverKeepAliveConnectionsAndCountsEveryAnswer() {
    assertThat(raw("bench", "authorize", "--wallets", "3", "--requests", "300", "--warmup", "30", "--connections", "4"))
        .as(err).isEqualTo(0);
    assertThat(out).contains("authorize: 300 requests (after 30 to warm up) over 4 keep-alive connections, 3 wallets: ")
        .contains("answers 200: 300, 402: 0; CPU per request ");
    assertThat(raw("bench", "authorize", "--connections", "0")).isEqualTo(2);
    assertThat(err).contains("bench authorize needs --wallets, --requests >= 1, --warmup >= 0 and --connections from 1 "
        + "to 1000");
  }

  @ParameterizedTest
  @ValueSource(strings = {"aggregate", "status", "wallet", "node", "verify", "bench", "demo-repo"})
  void everyCommandTakesHelp(String command) {
    assertThat(raw(command, "--help")).isEqualTo(0);
    assertThat(out).contains("Usage: meterd " + command);
  }

  @Test
  void aggregateReadsAForgeNamedInTheConfigWithTheTokenFromTheEnvironmentOrAFile() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 10), record("a2", "u2", 20)));
    try (dev.meterd.testing.FakeForge forge = new dev.meterd.testing.FakeForge(repo.committer().repository())) {
      Path tokenFile = tmp.resolve("forge-token");
      Files.writeString(tokenFile, "from-the-file-0123456789\n");
      Path config = tmp.resolve("forge.toml");
      Files.writeString(config, """
          [source]
          kind = "forge"
          base_url = "%s"
          owner = "ops"
          repo = "usage"
          token_file = "%s"
          [storage]
          path = "%s"
          """.formatted(forge.baseUrl(), tokenFile, tmp.resolve("forge.db")));
      assertThat(withEnv(Map.of("METERD_FORGE_TOKEN", "from-the-env-0123456789"), "aggregate", "--once",
          "--config", config.toString())).as(err).isEqualTo(0);
      assertThat(lastLine().getLong("records_consumed")).isEqualTo(2);
      assertThat(lastLine().getString("head_sha")).isEqualTo(repo.tip());
      repo.commit("nodes/A/" + HOUR_11, batch(record("a3", "u1", 5)));
      assertThat(raw("aggregate", "--once", "--config", config.toString())).as(err).isEqualTo(0);
      assertThat(lastLine().getLong("records_consumed")).isEqualTo(1);
      List<String> tokens = forge.wireMock().getAllServeEvents().stream()
          .map(e -> e.getRequest().getHeader("Authorization")).distinct().toList();
      assertThat(tokens).containsExactlyInAnyOrder("token from-the-env-0123456789", "token from-the-file-0123456789");
      assertThat(raw("wallet", "show", "u1", "--config", config.toString())).isEqualTo(0);
      assertThat(new JsonObject(out.strip()).getLong("balance_cents")).isEqualTo(-15);
    }
  }

  @Test
  void aForgeSourceNeedsItsURLOwnerAndRepository() throws Exception {
    Path config = tmp.resolve("forge.toml");
    Files.writeString(config, "[source]\nkind = \"forge\"\nbase_url = \"ftp://x\"\nowner = \"o/p\"\n");
    assertThat(raw("status", "--config", config.toString())).isEqualTo(2);
    assertThat(err).isEqualTo("meterd: invalid configuration " + config + ":\n"
        + "  source.base_url must be the forge's http(s) URL without credentials, e.g. \"https://forge.example.org\", "
        + "when source.kind = \"forge\"\n"
        + "  source.owner must name the repository's owner (letters, digits, '.', '_', '-') when source.kind = \"forge\"\n"
        + "  source.repo must name the repository's repo (letters, digits, '.', '_', '-') when source.kind = \"forge\"\n");
  }
}
