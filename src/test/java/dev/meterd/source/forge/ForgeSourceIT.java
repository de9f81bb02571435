package dev.meterd.source.forge;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.get;
import static com.github.tomakehurst.wiremock.client.WireMock.urlPathEqualTo;
import static com.github.tomakehurst.wiremock.stubbing.Scenario.STARTED;
import static dev.meterd.testing.UsageRepo.HOUR_10;
import static dev.meterd.testing.UsageRepo.batch;
import static dev.meterd.testing.UsageRepo.record;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.github.tomakehurst.wiremock.WireMockServer;
import com.github.tomakehurst.wiremock.client.MappingBuilder;
import com.github.tomakehurst.wiremock.client.WireMock;
import com.github.tomakehurst.wiremock.core.WireMockConfiguration;
import com.github.tomakehurst.wiremock.http.Fault;
import dev.meterd.batch.BatchParser;
import dev.meterd.engine.Aggregator;
import dev.meterd.engine.FaultInjector;
import dev.meterd.engine.RunRequest;
import dev.meterd.engine.RunSummary;
import dev.meterd.ledger.NodeError;
import dev.meterd.ledger.NodeState;
import dev.meterd.ledger.SqliteLedger;
import dev.meterd.ledger.Wallet;
import dev.meterd.source.SourceException;
import dev.meterd.testing.FakeForge;
import dev.meterd.testing.MutableClock;
import dev.meterd.testing.RunningDaemon;
import dev.meterd.testing.UsageRepo;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.eclipse.jgit.lib.Constants;
import org.eclipse.jgit.lib.ObjectId;
import org.eclipse.jgit.revwalk.RevWalk;
import org.eclipse.jgit.treewalk.TreeWalk;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The forge source against a Gitea API on WireMock (served from a real repository) with faults
 * injected in front of it: each fault's exact outcome, what was applied, the node's state, and the
 * requests made.
 */
class ForgeSourceIT {

  private static final String TOKEN = "forge-token-s3cr3t-0123456789";
  /**
   * Short waits between tries, so that retries take milliseconds; four tries, as in production.
   * The timeouts stay long (10 s): on a loaded machine an ordinary reply must never time out, or
   * the exact request counts below would be off. Only the timeout test shortens its own.
   */
  private static final ForgeOptions FAST = ForgeOptions.DEFAULT.withTimings(Duration.ofSeconds(10),
      Duration.ofSeconds(10), Duration.ofMillis(10), Duration.ofSeconds(2));

  @TempDir
  Path tmp;

  private UsageRepo repo;
  private FakeForge forge;
  private ForgeBatchSource source;
  private SqliteLedger ledger;
  private final MutableClock clock = new MutableClock(Instant.parse("2026-11-21T10:05:00Z"));

  @BeforeEach
  void setUp() throws Exception {
    repo = new UsageRepo(tmp.resolve("usage.git"));
    forge = new FakeForge(repo.committer().repository());
    ledger = SqliteLedger.open(tmp.resolve("meterd.db"), clock);
    source = open(FAST);
  }

  @AfterEach
  void tearDown() {
    source.close();
    ledger.close();
    forge.close();
    repo.close();
  }

  private ForgeBatchSource open(ForgeOptions options) throws SourceException {
    return ForgeBatchSource.open(forge.baseUrl(), FakeForge.OWNER, FakeForge.REPO, "main", Optional.of(TOKEN),
        options);
  }

  private RunSummary run() throws Exception {
    clock.advance(Duration.ofMinutes(5));
    return new Aggregator(source, ledger, new BatchParser(BatchParser.Limits.DEFAULT), clock, FaultInjector.NONE)
        .run(RunRequest.ALL);
  }

  private WireMockServer wm() {
    return forge.wireMock();
  }

  /** A stub in front of the fake forge for one API path. */
  private static MappingBuilder at(String path) {
    return get(urlPathEqualTo(FakeForge.PREFIX + path)).atPriority(1);
  }

  private long requestsTo(String path) {
    return forge.requests().stream().filter(u -> u.startsWith(FakeForge.PREFIX + path)).count();
  }

  /** The id of the object at a path of the branch tip. */
  private String idAt(String path) throws IOException {
    var r = repo.committer().repository();
    try (RevWalk walk = new RevWalk(r);
        TreeWalk tw = TreeWalk.forPath(r, path, walk.parseCommit(r.resolve(Constants.R_HEADS + "main")).getTree())) {
      return tw.getObjectId(0).name();
    }
  }

  private void seedTwoNodes() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 10), record("a2", "u2", 20)),
        "nodes/B/" + HOUR_10, batch(record("b1", "u1", 100)));
  }

  private long balance(String user) {
    return ledger.reads().wallet(user).map(Wallet::balanceCents).orElse(0L);
  }

  private NodeState state(String node) {
    return ledger.reads().node(node).orElseThrow();
  }

  /** A failed read of A's file: A is deferred with the error, nothing of it applied; B is consumed. */
  private void assertADeferred(RunSummary s, String error) {
    assertThat(s.halted()).hasSize(1);
    assertThat(s.halted().get(0).node()).isEqualTo("A");
    assertThat(s.halted().get(0).error().kind()).isEqualTo(NodeError.Kind.TRANSIENT);
    assertThat(s.halted().get(0).error().message()).isEqualTo(error);
    assertThat(state("A").lastCommitSha()).as("A's cursor").isNull();
    assertThat(state("A").recordsConsumedTotal()).isZero();
    assertThat(balance("u2")).as("A's records applied").isZero();
    assertThat(balance("u1")).as("only B's record").isEqualTo(-100);
  }

  private String blobPath(String file) throws IOException {
    return "/git/blobs/" + idAt(file);
  }

  private String what(String path) {
    return "forge http://127.0.0.1:" + wm().port() + " ops/usage: GET " + FakeForge.PREFIX + path;
  }

  @Test
  void anUnchangedTipCostsOneRequest() throws Exception {
    seedTwoNodes();
    assertThat(run().recordsConsumed()).isEqualTo(3);
    forge.resetRequests();
    RunSummary again = run();
    assertThat(again.nodesSkipped()).isEqualTo(2);
    assertThat(forge.requests()).containsExactly(FakeForge.PREFIX + "/branches/main");
  }

  @Test
  void tenOfAThousandNodesChangedCostsABoundedNumberOfRequests() throws Exception {
    List<String> files = new ArrayList<>();
    for (int n = 0; n < 1_000; n++) {
      files.add("nodes/node-" + n + "/" + HOUR_10);
      files.add(batch(record("k" + n, "u" + (n % 10), 1)));
    }
    repo.commit(files.toArray(String[]::new));
    assertThat(run().recordsConsumed()).isEqualTo(1_000);
    files.clear();
    for (int n = 0; n < 1_000; n += 100) {
      files.add("nodes/node-" + n + "/usage_2026-11-21-11.toml");
      files.add(batch(record("late" + n, "u1", 2)));
    }
    repo.commit(files.toArray(String[]::new));

    // The daemon: one source for every run, so the changed nodes' old trees are cached.
    forge.resetRequests();
    RunSummary s = run();
    assertThat(s.recordsConsumed()).isEqualTo(10);
    assertThat(s.nodesSkipped()).isEqualTo(990);
    // branch + root tree + nodes tree + commits since the last run + 10 x (log, tree, blob)
    assertThat(forge.requests()).hasSize(4 + 10 * 3);

    // `aggregate --once`: a fresh source also reads each changed node's old tree.
    repo.commit(files.toArray(String[]::new)[0], batch(record("late0", "u1", 2), record("later0", "u1", 2)));
    source.close();
    source = open(FAST);
    forge.resetRequests();
    assertThat(run().recordsConsumed()).isEqualTo(1);
    assertThat(forge.requests()).hasSize(4 + 1 * 4);
  }

  @Test
  void aReplyPastTheRequestTimeoutIsTriedFourTimesThenTheNodeIsDeferred() throws Exception {
    seedTwoNodes();
    // A reply that stays silent far longer than the timeout under test (3 s, a thousand times
    // what an ordinary reply takes here), so that only this blob's requests time out.
    source.close();
    source = open(FAST.withTimings(Duration.ofSeconds(10), Duration.ofSeconds(3), Duration.ofMillis(10),
        Duration.ofSeconds(2)));
    String blob = blobPath("nodes/A/" + HOUR_10);
    wm().stubFor(at(blob).willReturn(aResponse().withStatus(200).withFixedDelay(20_000).withBody("{}")));
    RunSummary s = run();
    assertADeferred(s, what(blob) + ": no reply for 3000 ms (4 tries)");
    assertThat(requestsTo(blob)).isEqualTo(4);

    forge.clearFaults();
    RunSummary retried = run();
    assertThat(retried.halted()).isEmpty();
    assertThat(balance("u2")).isEqualTo(-20);
    assertThat(state("A").lastCommitSha()).isEqualTo(repo.newestTouching("A"));
  }

  @Test
  void aConnectionResetIsTriedAgain() throws Exception {
    seedTwoNodes();
    String blob = blobPath("nodes/A/" + HOUR_10);
    wm().stubFor(at(blob).inScenario("reset").whenScenarioStateIs(STARTED).willSetStateTo("done")
        .willReturn(aResponse().withFault(Fault.CONNECTION_RESET_BY_PEER)));
    RunSummary s = run();
    assertThat(s.halted()).isEmpty();
    assertThat(s.recordsConsumed()).isEqualTo(3);
    assertThat(requestsTo(blob)).isEqualTo(2);
  }

  @Test
  void a500ThenSuccessIsTriedAgainAndTheRunGoesOn() throws Exception {
    seedTwoNodes();
    wm().stubFor(at("/branches/main").inScenario("500").whenScenarioStateIs(STARTED).willSetStateTo("done")
        .willReturn(aResponse().withStatus(500).withBody("{\"message\":\"boom\"}")));
    RunSummary s = run();
    assertThat(s.recordsConsumed()).isEqualTo(3);
    assertThat(requestsTo("/branches/main")).isEqualTo(2);
  }

  @Test
  void a503EveryTimeFailsTheRunWithNothingApplied() throws Exception {
    seedTwoNodes();
    wm().stubFor(at("/branches/main").willReturn(aResponse().withStatus(503)));
    assertThatThrownBy(this::run).isInstanceOf(SourceException.class)
        .hasMessage(what("/branches/main") + ": 503 Service Unavailable (4 tries)");
    assertThat(requestsTo("/branches/main")).isEqualTo(4);
    assertThat(ledger.reads().nodes()).isEmpty();
  }

  @Test
  void a429IsTriedAgainAfterItsRetryAfter() throws Exception {
    seedTwoNodes();
    String blob = blobPath("nodes/A/" + HOUR_10);
    wm().stubFor(at(blob).inScenario("429").whenScenarioStateIs(STARTED).willSetStateTo("done")
        .willReturn(aResponse().withStatus(429).withHeader("Retry-After", "1")));
    long started = System.nanoTime();
    RunSummary s = run();
    assertThat(Duration.ofNanos(System.nanoTime() - started)).as("waited the second asked for")
        .isGreaterThanOrEqualTo(Duration.ofSeconds(1));
    assertThat(s.halted()).isEmpty();
    assertThat(balance("u2")).isEqualTo(-20);
    assertThat(requestsTo(blob)).isEqualTo(2);
  }

  @Test
  void a429WithAnHttpDateIsTriedAgainAtThatTime() throws Exception {
    seedTwoNodes();
    String at = java.time.format.DateTimeFormatter.RFC_1123_DATE_TIME.format(
        java.time.ZonedDateTime.now(java.time.ZoneOffset.UTC).plusSeconds(2));
    wm().stubFor(at("/branches/main").inScenario("429").whenScenarioStateIs(STARTED).willSetStateTo("done")
        .willReturn(aResponse().withStatus(429).withHeader("Retry-After", at)));
    long started = System.nanoTime();
    assertThat(run().recordsConsumed()).isEqualTo(3);
    // The date has whole seconds: the wait is between one and two of them.
    assertThat(Duration.ofNanos(System.nanoTime() - started)).isGreaterThanOrEqualTo(Duration.ofMillis(900));
    assertThat(requestsTo("/branches/main")).isEqualTo(2);
  }

  @Test
  void a429AskingForMoreThanTheCapDefersTheNodeAtOnce() throws Exception {
    seedTwoNodes();
    String blob = blobPath("nodes/A/" + HOUR_10);
    wm().stubFor(at(blob).willReturn(aResponse().withStatus(429).withHeader("Retry-After", "3600")));
    RunSummary s = run();
    assertADeferred(s, what(blob) + ": 429 Too Many Requests, asked to wait 3600 s, longer than 2 s");
    assertThat(requestsTo(blob)).isEqualTo(1);
  }

  @Test
  void aFailingSecondPageOfTheNodesTreeFailsTheRunWithNothingApplied() throws Exception {
    seedTwoNodes();
    source.close();
    source = open(FAST.withPaging(1 << 20, 1, 50));
    String nodes = "/git/trees/" + idAt("nodes");
    wm().stubFor(at(nodes).withQueryParam("page", WireMock.equalTo("2")).willReturn(aResponse().withStatus(502)));
    assertThatThrownBy(this::run).isInstanceOf(SourceException.class)
        .hasMessage(what(nodes) + "?page=2&per_page=1: 502 Bad Gateway (4 tries)");
    assertThat(forge.requests().stream().filter(u -> u.contains(nodes + "?page=2"))).hasSize(4);
    assertThat(forge.requests().stream().filter(u -> u.contains(nodes + "?page=1"))).hasSize(1);
    assertThat(ledger.reads().nodes()).isEmpty();
    assertThat(ledger.reads().wallets()).isEmpty();
  }

  @Test
  void malformedJsonDefersTheNodeWithoutRetrying() throws Exception {
    seedTwoNodes();
    String blob = blobPath("nodes/A/" + HOUR_10);
    wm().stubFor(at(blob).willReturn(aResponse().withStatus(200).withBody("{\"content\": \"abc")));
    RunSummary s = run();
    assertThat(s.halted().get(0).error().message()).startsWith(what(blob) + " (nodes/A/" + HOUR_10
        + "): the reply is not valid JSON (");
    assertADeferred(s, s.halted().get(0).error().message());
    assertThat(requestsTo(blob)).isEqualTo(1);
  }

  @Test
  void malformedBase64AndAWrongBlobDeferTheNode() throws Exception {
    seedTwoNodes();
    String blob = blobPath("nodes/A/" + HOUR_10);
    wm().stubFor(at(blob).willReturn(aResponse().withStatus(200)
        .withBody("{\"encoding\":\"base64\",\"content\":\"!!not base64!!\"}")));
    assertADeferred(run(), what(blob) + " (nodes/A/" + HOUR_10
        + "): content is not valid base64 (Illegal base64 character 21)");

    String other = java.util.Base64.getEncoder().encodeToString(batch(record("a1", "u1", 99999)).getBytes());
    wm().stubFor(at(blob).willReturn(aResponse().withStatus(200)
        .withBody("{\"encoding\":\"base64\",\"content\":\"" + other + "\"}")));
    RunSummary s = run();
    assertThat(s.halted().get(0).error().message()).startsWith(what(blob) + " (nodes/A/" + HOUR_10
        + "): the forge sent ").contains("whose blob id is not " + idAt("nodes/A/" + HOUR_10));
    assertThat(balance("u2")).isZero();
  }

  @Test
  void anOversizeReplyIsCutOffAndDefersTheNode() throws Exception {
    seedTwoNodes();
    String blob = blobPath("nodes/A/" + HOUR_10);
    String huge = "{\"encoding\":\"base64\",\"content\":\"" + "A".repeat(2 << 20) + "\"}";
    wm().stubFor(at(blob).willReturn(aResponse().withStatus(200).withBody(huge)));
    RunSummary s = run();
    long limit = (idSize("nodes/A/" + HOUR_10) + 2) / 3 * 4 + 64 * 1024;
    assertADeferred(s, what(blob) + ": the reply is over the limit of " + limit + " bytes");
    assertThat(requestsTo(blob)).isEqualTo(1);
  }

  @Test
  void anOversizeJsonListingFailsTheRun() throws Exception {
    seedTwoNodes();
    source.close();
    source = open(FAST.withPaging(4_096, 1_000, 50));
    String nodes = "/git/trees/" + idAt("nodes");
    wm().stubFor(at(nodes).willReturn(aResponse().withStatus(200).withBody("{\"tree\":[" + "{},".repeat(5_000)
        + "{}]}")));
    assertThatThrownBy(this::run).isInstanceOf(SourceException.class)
        .hasMessage(what(nodes) + "?page=1&per_page=1000: the reply is over the limit of 4096 bytes");
    assertThat(ledger.reads().nodes()).isEmpty();
  }

  private long idSize(String path) throws IOException {
    return repo.committer().repository().open(ObjectId.fromString(idAt(path))).getSize();
  }

  @Test
  void aRedirectToAnotherHostIsNotFollowedAndGetsNoToken() throws Exception {
    seedTwoNodes();
    WireMockServer other = new WireMockServer(WireMockConfiguration.options().dynamicPort().bindAddress("127.0.0.1"));
    other.start();
    try {
      other.stubFor(WireMock.any(WireMock.anyUrl()).willReturn(aResponse().withStatus(200).withBody("{}")));
      String blob = blobPath("nodes/A/" + HOUR_10);
      wm().stubFor(at(blob).willReturn(aResponse().withStatus(302)
          .withHeader("Location", "http://localhost:" + other.port() + "/steal")));
      RunSummary s = run();
      assertADeferred(s, what(blob) + ": the forge redirected to http://localhost:" + other.port()
          + ", not http://127.0.0.1:" + wm().port() + "; not followed, so the token stays with 127.0.0.1");
      assertThat(other.getAllServeEvents()).isEmpty();
      assertThat(requestsTo(blob)).isEqualTo(1);
      assertThat(wm().getAllServeEvents()).allSatisfy(e ->
          assertThat(e.getRequest().getHeader("Authorization")).isEqualTo("token " + TOKEN));
    } finally {
      other.stop();
    }
  }

  @Test
  void aRedirectOnTheSameHostIsFollowed() throws Exception {
    seedTwoNodes();
    wm().stubFor(get(urlPathEqualTo("/api/v1/repos/ops/old-name/branches/main")).atPriority(1)
        .willReturn(aResponse().withStatus(301).withHeader("Location", FakeForge.PREFIX + "/branches/main")));
    ForgeBatchSource renamed = ForgeBatchSource.open(forge.baseUrl(), "ops", "old-name", "main", Optional.empty(),
        FAST);
    try {
      assertThat(renamed.tip()).isEqualTo(repo.tip());
      assertThat(renamed.requests()).isEqualTo(2);
    } finally {
      renamed.close();
    }
  }

  @Test
  void aRefusedTokenIsNotTriedAgainAndSaysWhatToCheck() throws Exception {
    seedTwoNodes();
    wm().stubFor(at("/branches/main").willReturn(aResponse().withStatus(401).withBody("{\"message\":\"token\"}")));
    assertThatThrownBy(this::run).isInstanceOf(SourceException.class).hasMessage(what("/branches/main")
        + ": 401 Unauthorized (check the token in METERD_FORGE_TOKEN or [source] token_file, and its read access)");
    assertThat(requestsTo("/branches/main")).isEqualTo(1);
  }

  @Test
  void aForgeThatRefusesConnectionsIsTriedFourTimesThenTheRunFails() throws Exception {
    int closed;
    try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      closed = s.getLocalPort();
    }
    ForgeBatchSource down = ForgeBatchSource.open("http://127.0.0.1:" + closed, FakeForge.OWNER, FakeForge.REPO,
        "main", Optional.of(TOKEN), FAST);
    try {
      assertThatThrownBy(down::tip).isInstanceOf(SourceException.class)
          .hasMessageStartingWith("forge http://127.0.0.1:" + closed + " ops/usage: GET " + FakeForge.PREFIX
              + "/branches/main: ")
          .hasMessageContaining("Connection refused").hasMessageEndingWith(" (4 tries)")
          .satisfies(e -> assertThat(e.getMessage()).doesNotContain(TOKEN));
      assertThat(down.requests()).isEqualTo(4);
    } finally {
      down.close();
    }
  }

  @Test
  void theDaemonAggregatesFromTheForgeAndAnswers503WhenItIsDown() throws Exception {
    seedTwoNodes();
    try (RunningDaemon daemon = new RunningDaemon(tmp, open(FAST))) {
      daemon.awaitStartRun(2);
      assertThat(daemon.json("GET", "/admin/wallets/u1").getLong("balance_cents")).isEqualTo(-110);
      repo.commit("nodes/B/usage_2026-11-21-11.toml", batch(record("b2", "u2", 5)));
      assertThat(daemon.json("POST", "/admin/aggregate-now").getLong("records_consumed")).isEqualTo(1);

      wm().stubFor(at("/branches/main").willReturn(aResponse().withStatus(503)));
      var down = daemon.call("POST", "/admin/aggregate-now", RunningDaemon.ADMIN_TOKEN);
      assertThat(down.statusCode()).isEqualTo(503);
      assertThat(down.bodyAsJsonObject().getString("error")).isEqualTo(what("/branches/main")
          + ": 503 Service Unavailable (4 tries)");
      assertThat(daemon.json("GET", "/admin/wallets/u2").getLong("balance_cents")).isEqualTo(-25);
    }
  }

  @Test
  void aMissingBranchIsNamed() throws Exception {
    seedTwoNodes();
    ForgeBatchSource other = ForgeBatchSource.open(forge.baseUrl(), FakeForge.OWNER, FakeForge.REPO, "nope",
        Optional.empty(), FAST);
    try {
      assertThatThrownBy(other::tip).isInstanceOf(SourceException.class)
          .hasMessage("forge http://127.0.0.1:" + wm().port() + " ops/usage has no branch nope");
    } finally {
      other.close();
    }
  }
}
