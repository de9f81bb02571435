package dev.meterd.daemon;

import static dev.meterd.testing.UsageRepo.HOUR_10;
import static dev.meterd.testing.UsageRepo.batch;
import static dev.meterd.testing.UsageRepo.record;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.ThrowableProxyUtil;
import ch.qos.logback.core.Appender;
import ch.qos.logback.core.read.ListAppender;
import com.github.tomakehurst.wiremock.client.ResponseDefinitionBuilder;
import com.github.tomakehurst.wiremock.client.WireMock;
import com.github.tomakehurst.wiremock.http.Fault;
import dev.meterd.batch.BatchParser;
import dev.meterd.engine.Aggregator;
import dev.meterd.engine.FaultInjector;
import dev.meterd.engine.RunRequest;
import dev.meterd.ledger.SqliteLedger;
import dev.meterd.source.SourceException;
import dev.meterd.source.forge.ForgeBatchSource;
import dev.meterd.source.forge.ForgeOptions;
import dev.meterd.testing.FakeForge;
import java.time.Duration;
import org.eclipse.jgit.lib.Constants;
import org.eclipse.jgit.lib.ObjectInserter;
import dev.meterd.source.git.GitBatchSource;
import dev.meterd.testing.RunningDaemon;
import dev.meterd.testing.UsageRepo;
import io.vertx.core.MultiMap;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/** Every log line, at every level, is captured while secrets are used and misused; none holds one. */
class SecretsIT {

  private static final String GIT_TOKEN = "git-token-s3cr3t-0123456789";

  @TempDir
  Path tmp;

  private final ListAppender<ILoggingEvent> captured = new ListAppender<>();
  private Logger root;
  private Level rootLevel;
  private Appender<ILoggingEvent> console;

  @BeforeEach
  void captureEveryLogLine() {
    root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
    rootLevel = root.getLevel();
    root.setLevel(Level.ALL);
    ((Logger) LoggerFactory.getLogger("dev.meterd")).setLevel(Level.ALL);
    // Every line is captured and searched here; the console gets none of this test's debug flood.
    console = root.getAppender("STDERR");
    root.detachAppender(console);
    captured.start();
    root.addAppender(captured);
  }

  @AfterEach
  void restore() {
    root.detachAppender(captured);
    if (console != null) {
      root.addAppender(console);
    }
    root.setLevel(rootLevel);
    ((Logger) LoggerFactory.getLogger("dev.meterd")).setLevel(Level.INFO);
  }

  private String everything() {
    return captured.list.stream().map(e -> e.getFormattedMessage()
        + (e.getThrowableProxy() == null ? "" : ThrowableProxyUtil.asString(e.getThrowableProxy())))
        .collect(Collectors.joining("\n"));
  }

  @Test
  void noAdminTokenEverReachesALogLineOrAnError() throws Exception {
    try (UsageRepo repo = new UsageRepo(tmp.resolve("usage.git"))) {
      repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 3)), "nodes/B/" + HOUR_10, "bad");
      try (RunningDaemon daemon = new RunningDaemon(tmp, repo)) {
        daemon.awaitStartRun(2);
        for (String token : List.of(RunningDaemon.ADMIN_TOKEN + "x", RunningDaemon.ALICE_TOKEN.substring(3))) {
          assertThat(daemon.call("GET", "/admin/list-users", token).bodyAsString()).doesNotContain(token);
          assertThat(RunningDaemon.get(daemon.request("POST", "/admin/ui/login", null)
              .sendForm(MultiMap.caseInsensitiveMultiMap().add("token", token))).bodyAsString()).doesNotContain(token);
        }
        RunningDaemon.get(daemon.request("POST", "/admin/wallets/u1/grant", RunningDaemon.ALICE_TOKEN)
            .sendJsonObject(new JsonObject().put("amount_cents", 5)));
        RunningDaemon.get(daemon.request("POST", "/admin/ui/login", null)
            .sendForm(MultiMap.caseInsensitiveMultiMap().add("token", RunningDaemon.ADMIN_TOKEN)));
        daemon.json("POST", "/admin/aggregate-now");
      }
    }
    String logs = everything();
    assertThat(captured.list).isNotEmpty();
    assertThat(logs).contains("aggregation requested by admin")
        .doesNotContain(RunningDaemon.ADMIN_TOKEN).doesNotContain(RunningDaemon.ALICE_TOKEN)
        .doesNotContain(RunningDaemon.ALICE_TOKEN.substring(3));
  }

  @Test
  void aGitTokenNeverReachesALogLineOrAnError() throws Exception {
    String url = "http://meterd:" + GIT_TOKEN + "@127.0.0.1:9/usage.git";
    try (GitBatchSource source = GitBatchSource.open(url, "main", tmp.resolve("clone"), Optional.of(GIT_TOKEN))) {
      assertThatThrownBy(source::tip).isInstanceOf(SourceException.class)
          .satisfies(e -> assertThat(e.getMessage()).startsWith("cannot fetch branch main from http://127.0.0.1:9/usage.git")
              .doesNotContain(GIT_TOKEN));
    }
    assertThat(everything()).doesNotContain(GIT_TOKEN);
  }

  @Test
  void aForgeTokenNeverReachesALogLineOrAnError() throws Exception {
    String token = "forge-token-s3cr3t-0123456789";
    List<String> errors = new java.util.ArrayList<>();
    try (UsageRepo repo = new UsageRepo(tmp.resolve("usage.git"));
        FakeForge forge = new FakeForge(repo.committer().repository());
        SqliteLedger ledger = SqliteLedger.open(tmp.resolve("meterd.db"), java.time.Clock.systemUTC())) {
      repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 3)), "nodes/B/" + HOUR_10, "bad");
      String blob = FakeForge.PREFIX + "/git/blobs/" + new ObjectInserter.Formatter()
          .idFor(Constants.OBJ_BLOB, repo.committer().read("nodes/A/" + HOUR_10)).name();
      // Timeouts far beyond an ordinary reply on a loaded machine, so that only the stalled fault
      // below times out and the count of errors is exact.
      ForgeOptions fast = ForgeOptions.DEFAULT.withTimings(Duration.ofSeconds(10), Duration.ofSeconds(3),
          Duration.ofMillis(5), Duration.ofSeconds(1));
      try (ForgeBatchSource source = ForgeBatchSource.open(forge.baseUrl(), FakeForge.OWNER, FakeForge.REPO, "main",
          Optional.of(token), fast)) {
        Aggregator aggregator = new Aggregator(source, ledger, new BatchParser(BatchParser.Limits.DEFAULT),
            java.time.Clock.systemUTC(), FaultInjector.NONE);
        // Each fault in turn, then a clean run; every error message is kept.
        List<ResponseDefinitionBuilder> faults = List.of(
            WireMock.aResponse().withStatus(500).withBody(token),
            WireMock.aResponse().withStatus(302).withHeader("Location", "http://localhost:9/?t=" + token),
            WireMock.aResponse().withStatus(429).withHeader("Retry-After", "99"),
            WireMock.aResponse().withStatus(200).withBody("{\"content\": \"" + token),
            WireMock.aResponse().withFault(Fault.CONNECTION_RESET_BY_PEER),
            WireMock.aResponse().withFixedDelay(20_000));
        for (ResponseDefinitionBuilder fault : faults) {
          forge.clearFaults();
          forge.wireMock().stubFor(WireMock.get(WireMock.urlPathEqualTo(blob)).atPriority(1).willReturn(fault));
          ledger.nodeStore().resume("A");
          repo.commit("README.md", "run " + errors.size());
          aggregator.run(RunRequest.ALL).halted().forEach(h -> errors.add(h.error().message()));
        }
        forge.clearFaults();
        forge.wireMock().stubFor(WireMock.get(WireMock.urlPathEqualTo(FakeForge.PREFIX + "/branches/main"))
            .atPriority(1).willReturn(WireMock.aResponse().withStatus(401).withBody(token)));
        repo.commit("README.md", "the last run");
        assertThatThrownBy(() -> aggregator.run(RunRequest.ALL)).isInstanceOf(SourceException.class)
            .satisfies(e -> errors.add(e.getMessage()));
      }
      assertThat(forge.wireMock().getAllServeEvents()).allSatisfy(e ->
          assertThat(e.getRequest().getHeader("Authorization")).isEqualTo("token " + token));
    }
    assertThat(errors).hasSize(13).noneMatch(e -> e.contains(token));
    assertThat(everything()).doesNotContain(token);
  }
}
