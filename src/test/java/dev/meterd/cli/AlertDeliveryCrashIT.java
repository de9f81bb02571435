package dev.meterd.cli;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static dev.meterd.testing.UsageRepo.batch;
import static dev.meterd.testing.UsageRepo.record;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.WireMockServer;
import com.github.tomakehurst.wiremock.core.WireMockConfiguration;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import dev.meterd.ledger.Delivery;
import dev.meterd.ledger.LedgerEngine;
import dev.meterd.ledger.SqliteLedger;
import dev.meterd.ledger.TestDatabase;
import dev.meterd.policy.WalletSettings;
import dev.meterd.testing.StandardWebhooksVerifier;
import dev.meterd.testing.UsageRepo;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The daemon killed, as by a power cut, right after the charge that fires three budget alerts
 * committed: after a restart each alert is delivered with the id it was written with, signed so
 * the receiver verifies it, on each engine.
 */
@ParameterizedClass
@EnumSource(LedgerEngine.class)
class AlertDeliveryCrashIT {

  private static final String SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

  @Parameter
  LedgerEngine engine;

  @TempDir
  Path tmp;

  private TestDatabase db;

  private final WireMockServer receiver = new WireMockServer(WireMockConfiguration.options().dynamicPort()
      .bindAddress("127.0.0.1"));

  @BeforeEach
  void startReceiver() {
    receiver.start();
  }

  @AfterEach
  void stopReceiver() {
    receiver.stop();
  }

  private Process serve(Path config, String fault) throws Exception {
    List<String> jvm = new ArrayList<>();
    if (fault != null) {
      jvm.add("-Dmeterd.fault=" + fault);
      jvm.add("-Dmeterd.fault.marker=" + tmp.resolve("fault.marker"));
    }
    ProcessBuilder pb = MeterdJar.process(MeterdJar.command(jvm, List.of("serve", "--config", config.toString())), db,
        tmp.resolve("serve.log")).redirectOutput(ProcessBuilder.Redirect.appendTo(tmp.resolve("serve.log").toFile()));
    pb.environment().put("METERD_WEBHOOK_SECRET", SECRET);
    pb.environment().put("METERD_ADMIN_TOKEN", "admin-token-0123456789");
    return pb.start();
  }

  /** The alert events waiting in the outbox: "id threshold cycle spent", oldest first. */
  private List<String> pendingAlerts() {
    try (SqliteLedger ledger = db.open(Clock.systemUTC())) {
      List<String> result = new ArrayList<>();
      for (Delivery d : ledger.outbox().deliveries(Delivery.Status.PENDING, null, 100)) {
        String alert = alert(new JsonObject(d.body()));
        if (alert != null) {
          result.add(0, alert);
        }
      }
      return result;
    }
  }

  private static String alert(JsonObject event) {
    if (!event.getString("type").equals("alert.fired")) {
      return null;
    }
    JsonObject data = event.getJsonObject("data");
    return event.getString("id") + " " + data.getInteger("threshold_pct") + " " + data.getString("cycle") + " "
        + data.getLong("spent_cents");
  }

  /** The alerts the receiver got, each verified as a receiver verifies it, without repeats. */
  private List<String> alertsReceived() {
    TreeSet<String> result = new TreeSet<>();
    for (LoggedRequest r : receiver.findAll(postRequestedFor(urlEqualTo("/hook")))) {
      JsonObject event = new StandardWebhooksVerifier(SECRET).event(r);
      String alert = alert(event);
      if (alert != null) {
        result.add(alert);
      }
    }
    return new ArrayList<>(result);
  }

  @Test
  void alertsCommittedBeforeAKillAreDeliveredAfterTheRestartWithTheirIds() throws Exception {
    db = engine.freshDatabase(tmp);
    try (SqliteLedger ledger = db.open(Clock.systemUTC())) {
      ledger.walletStore().updateSettings("u1", new WalletSettings.Patch(10_000L, null, null, null, null), "ops");
    }
    Path config;
    try (UsageRepo repo = new UsageRepo(tmp.resolve("usage.git"))) {
      StringBuilder records = new StringBuilder();
      for (int i = 0; i < 12; i++) {
        records.append(record("r" + i, "u1", 1_000));
      }
      repo.commit("nodes/A/" + UsageRepo.HOUR_10, batch(records.toString()));
      config = MeterdJar.config(tmp.resolve("meterd.toml"), db, """
          [source]
          url = "%s"
          [aggregator]
          interval_seconds = 3600
          [http]
          listen = "127.0.0.1:0"
          [notify]
          webhook_url = "http://127.0.0.1:%d/hook"
          """.formatted(repo.dir(), receiver.port()));
    }
    // While the first daemon lives the receiver refuses everything: nothing it sent can count as delivered.
    receiver.stubFor(post("/hook").willReturn(aResponse().withStatus(503)));
    Process first = serve(config, "after-node-commit:A");
    assertThat(first.waitFor(180, TimeUnit.SECONDS)).isTrue();
    assertThat(first.exitValue()).as(Files.readString(tmp.resolve("serve.log"))).isEqualTo(137);
    assertThat(tmp.resolve("fault.marker")).hasContent("after-node-commit A");
    List<String> written = pendingAlerts();
    assertThat(written).extracting(s -> s.substring(s.indexOf(' ') + 1))
        .containsExactly("50 2026-11 12000", "80 2026-11 12000", "100 2026-11 12000");

    receiver.resetAll();
    receiver.stubFor(post("/hook").willReturn(aResponse().withStatus(204)));
    Process second = serve(config, null);
    try {
      Instant deadline = Instant.now().plus(Duration.ofSeconds(120));
      while (alertsReceived().size() < written.size() && Instant.now().isBefore(deadline)) {
        assertThat(second.isAlive()).as(Files.readString(tmp.resolve("serve.log"))).isTrue();
        Thread.sleep(100);
      }
    } finally {
      second.destroy();
      assertThat(second.waitFor(60, TimeUnit.SECONDS)).isTrue();
    }
    assertThat(alertsReceived()).containsExactlyInAnyOrderElementsOf(written);
    assertThat(pendingAlerts()).isEmpty();
    try (SqliteLedger ledger = db.open(Clock.systemUTC())) {
      assertThat(ledger.reads().alerts(null, "u1", 100)).hasSize(3);
      assertThat(ledger.audit().verify()).isEmpty();
    }
  }
}
