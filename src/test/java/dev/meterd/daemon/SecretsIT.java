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
import ch.qos.logback.core.read.ListAppender;
import dev.meterd.source.SourceException;
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

  @BeforeEach
  void captureEveryLogLine() {
    root = (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
    rootLevel = root.getLevel();
    root.setLevel(Level.ALL);
    ((Logger) LoggerFactory.getLogger("dev.meterd")).setLevel(Level.ALL);
    captured.start();
    root.addAppender(captured);
  }

  @AfterEach
  void restore() {
    root.detachAppender(captured);
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
}
