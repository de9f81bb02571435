package dev.meterd.notify;

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
import dev.meterd.batch.BatchParser;
import dev.meterd.engine.Aggregator;
import dev.meterd.engine.FaultInjector;
import dev.meterd.engine.RunRequest;
import dev.meterd.ledger.Delivery;
import dev.meterd.ledger.LedgerEngine;
import dev.meterd.ledger.SqliteLedger;
import dev.meterd.ledger.TestDatabase;
import dev.meterd.policy.WalletSettings;
import dev.meterd.source.git.GitBatchSource;
import dev.meterd.testing.MutableClock;
import dev.meterd.testing.StandardWebhooksVerifier;
import dev.meterd.testing.UsageRepo;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
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

/**
 * Budget alerts from the charge to the receiver: fired once each in the run that reaches them,
 * written to the outbox by the charge's transaction, and delivered after a restart that came
 * between the commit and any delivery, with the ids they were written with and signatures the
 * receiver verifies; on each engine.
 */
@ParameterizedClass
@EnumSource(LedgerEngine.class)
class BudgetAlertWebhookIT {

  private static final String SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

  @Parameter
  LedgerEngine engine;

  @TempDir
  Path tmp;

  private final MutableClock clock = new MutableClock(Instant.parse("2026-11-21T10:05:00Z"));
  private final WireMockServer receiver = new WireMockServer(WireMockConfiguration.options().dynamicPort()
      .bindAddress("127.0.0.1"));
  private UsageRepo repo;
  private GitBatchSource source;
  private TestDatabase db;

  @BeforeEach
  void setUp() throws Exception {
    receiver.start();
    receiver.stubFor(post("/hook").willReturn(aResponse().withStatus(204)));
    db = engine.freshDatabase(tmp);
    repo = new UsageRepo(tmp.resolve("usage.git"));
    source = GitBatchSource.open(repo.dir().toString(), "main", tmp.resolve("clone"), Optional.empty());
  }

  @AfterEach
  void tearDown() {
    source.close();
    repo.close();
    receiver.stop();
  }

  private SqliteLedger open() {
    return db.open(clock);
  }

  private void run(SqliteLedger ledger) throws Exception {
    clock.advance(Duration.ofMinutes(5));
    assertThat(new Aggregator(source, ledger, new BatchParser(BatchParser.Limits.DEFAULT), clock, FaultInjector.NONE)
        .run(RunRequest.ALL).halted()).isEmpty();
  }

  private int deliver(SqliteLedger ledger) throws Exception {
    WebhookWorker worker = new WebhookWorker(ledger.outbox(), new WebhookSender(
        URI.create("http://127.0.0.1:" + receiver.port() + "/hook"), WebhookSigner.fromSecret(SECRET),
        Duration.ofSeconds(10)), RetrySchedule.giveUpAfter(Duration.ofDays(3)), Duration.ofSeconds(10), clock,
        () -> 0.5);
    return worker.deliverDue();
  }

  /** The alerts the receiver got, verified as a receiver verifies them: "id threshold cycle spent". */
  private List<String> alertsReceived() {
    List<String> result = new ArrayList<>();
    for (LoggedRequest r : receiver.findAll(postRequestedFor(urlEqualTo("/hook")))) {
      JsonObject event = new StandardWebhooksVerifier(SECRET).event(r);
      if (event.getString("type").equals("alert.fired")) {
        JsonObject data = event.getJsonObject("data");
        result.add(event.getString("id") + " " + data.getInteger("threshold_pct") + " " + data.getString("cycle") + " "
            + data.getLong("spent_cents"));
      }
    }
    return result;
  }

  private static List<String> pendingAlerts(SqliteLedger ledger) {
    List<String> result = new ArrayList<>();
    for (Delivery d : ledger.outbox().deliveries(Delivery.Status.PENDING, null, 100)) {
      JsonObject event = new JsonObject(d.body());
      if (event.getString("type").equals("alert.fired")) {
        JsonObject data = event.getJsonObject("data");
        result.add(0, d.eventId() + " " + data.getInteger("threshold_pct") + " " + data.getString("cycle") + " "
            + data.getLong("spent_cents"));
      }
    }
    return result;
  }

  @Test
  void alertsFiredByACommittedChargeAreDeliveredAfterARestartWithTheirIdsOnceEach() throws Exception {
    List<String> written;
    try (SqliteLedger ledger = open()) {
      ledger.walletStore().updateSettings("u1", new WalletSettings.Patch(10_000L, null, null, null, null), "ops");
      StringBuilder records = new StringBuilder();
      for (int i = 0; i < 12; i++) {
        records.append(record("r" + i, "u1", 1_000));
      }
      repo.commit("nodes/A/" + UsageRepo.HOUR_10, batch(records.toString()));
      run(ledger);
      written = pendingAlerts(ledger);
      assertThat(written).extracting(s -> s.substring(s.indexOf(' ') + 1))
          .containsExactly("50 2026-11 12000", "80 2026-11 12000", "100 2026-11 12000");
      // The process ends here: the charge and its alerts are committed, nothing was delivered.
    }
    assertThat(receiver.findAll(postRequestedFor(urlEqualTo("/hook")))).isEmpty();

    try (SqliteLedger restarted = open()) {
      assertThat(deliver(restarted)).isEqualTo(4);
      assertThat(alertsReceived()).isEqualTo(written);
      assertThat(restarted.outbox().deliveries(Delivery.Status.DELIVERED, null, 100))
          .extracting(d -> new JsonObject(d.body()).getString("type"))
          .containsExactlyInAnyOrder("alert.fired", "alert.fired", "alert.fired", "wallet.depleted");

      // More usage in the same month: no alert again, nothing more to deliver.
      repo.commit("nodes/A/" + UsageRepo.HOUR_11, batch(record("more", "u1", 1_000)));
      run(restarted);
      assertThat(deliver(restarted)).isZero();

      // The next month fires afresh.
      repo.commit("nodes/B/" + UsageRepo.HOUR_10, batch(record("dec", "u1", 6_000, "2026-12-01T00:00:00Z")));
      run(restarted);
      assertThat(deliver(restarted)).isEqualTo(1);
      assertThat(alertsReceived()).hasSize(4);
      assertThat(alertsReceived().get(3)).endsWith(" 50 2026-12 6000");
      assertThat(restarted.audit().verify()).isEmpty();
    }
  }
}
