package dev.meterd.notify;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static com.github.tomakehurst.wiremock.stubbing.Scenario.STARTED;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.WireMockServer;
import com.github.tomakehurst.wiremock.core.WireMockConfiguration;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import dev.meterd.ledger.Delivery;
import dev.meterd.ledger.Ledger;
import dev.meterd.batch.UsageRecord;
import dev.meterd.ledger.NodeCursor;
import dev.meterd.ledger.NodeError;
import dev.meterd.ledger.NodeStore;
import dev.meterd.ledger.LedgerEngine;
import dev.meterd.ledger.SqliteLedger;
import dev.meterd.ledger.TestDatabase;
import dev.meterd.testing.MutableClock;
import dev.meterd.testing.StandardWebhooksVerifier;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The delivery worker against WireMock as the receiver, on a real ledger, with the clock and the
 * jitter in the test's hands: every attempt is made by a call to {@link WebhookWorker#deliverDue}
 * in the test's thread, so the schedule is exact and nothing sleeps. On each engine.
 */
@ParameterizedClass
@EnumSource(LedgerEngine.class)
class WebhookWorkerIT {

  private static final String SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  private static final NodeError BAD_LINE = new NodeError(NodeError.Kind.CONTENT, "nodes/A/usage_2026-11-21-10.toml",
      7, "cost_cents must be >= 0, got -5");
  /** The jitter's draw: half of each ceiling. */
  private static final double HALF = 0.5;

  @Parameter
  LedgerEngine engine;

  @TempDir
  Path tmp;

  private final MutableClock clock = new MutableClock(Instant.parse("2026-11-21T10:05:00Z"));
  private final WireMockServer receiver = new WireMockServer(WireMockConfiguration.options().dynamicPort()
      .bindAddress("127.0.0.1"));
  private TestDatabase db;
  private SqliteLedger ledger;

  @BeforeEach
  void setUp() {
    receiver.start();
    db = engine.freshDatabase(tmp);
    ledger = open();
  }

  @AfterEach
  void tearDown() {
    ledger.close();
    receiver.stop();
  }

  private SqliteLedger open() {
    return db.open(clock);
  }

  private WebhookWorker worker(Ledger on, Duration giveUpAfter) {
    URI url = URI.create("http://127.0.0.1:" + receiver.port() + "/hook");
    return new WebhookWorker(on.outbox(), new WebhookSender(url, WebhookSigner.fromSecret(SECRET),
        Duration.ofSeconds(10)), RetrySchedule.giveUpAfter(giveUpAfter), Duration.ofSeconds(10), clock, () -> HALF);
  }

  private void answer(int status) {
    receiver.resetMappings();
    receiver.stubFor(post("/hook").willReturn(aResponse().withStatus(status).withBody(status == 200 ? "" : "boom")));
  }

  private List<LoggedRequest> received() {
    return receiver.findAll(postRequestedFor(urlEqualTo("/hook")));
  }

  /** Checks a request as a receiver would, at the time it was sent; returns its body's JSON. */
  private static JsonObject verified(LoggedRequest r) {
    return new StandardWebhooksVerifier(SECRET).event(r);
  }

  private Delivery delivery(String eventId) {
    return ledger.outbox().delivery(eventId).orElseThrow();
  }

  @Test
  void deliversAHaltAndAResumeSignedPerStandardWebhooks() throws Exception {
    answer(200);
    ledger.nodeStore().halt("A", BAD_LINE, "tree1");
    clock.advance(Duration.ofSeconds(30));
    ledger.nodeStore().resume("A");

    assertThat(worker(ledger, Duration.ofDays(3)).deliverDue()).isEqualTo(2);

    List<LoggedRequest> requests = received();
    assertThat(requests).hasSize(2);
    JsonObject halted = verified(requests.get(0));
    JsonObject resumed = verified(requests.get(1));
    assertThat(halted.getString("type")).isEqualTo("node.halted");
    assertThat(halted.getJsonObject("data")).isEqualTo(new JsonObject().put("node", "A").put("kind", "content")
        .put("file", "nodes/A/usage_2026-11-21-10.toml").put("line", 7).put("error", "cost_cents must be >= 0, got -5")
        .put("halted_since", "2026-11-21T10:05:00Z"));
    assertThat(halted.getString("created_at")).isEqualTo("2026-11-21T10:05:00Z");
    assertThat(resumed.getString("type")).isEqualTo("node.resumed");
    assertThat(resumed.getJsonObject("data").getString("reason")).isEqualTo("resume");
    for (LoggedRequest r : requests) {
      assertThat(r.getHeader("webhook-timestamp")).isEqualTo(Long.toString(clock.instant().getEpochSecond()));
      Delivery d = delivery(r.getHeader("webhook-id"));
      assertThat(r.getBodyAsString()).isEqualTo(d.body());
      assertThat(d.status()).isEqualTo(Delivery.Status.DELIVERED);
      assertThat(d.attempts()).isEqualTo(1);
      assertThat(d.deliveredAt()).isEqualTo(clock.instant());
      assertThat(d.lastStatusCode()).isEqualTo(200);
    }
    assertThat(worker(ledger, Duration.ofDays(3)).deliverDue()).as("a delivered event is not sent again").isZero();
  }

  @Test
  void aReceiverAnswering500ThenGetsTheSameEventAgainAfterTheBackoff() throws Exception {
    receiver.stubFor(post("/hook").inScenario("flaky").whenScenarioStateIs(STARTED)
        .willReturn(aResponse().withStatus(500).withBody("database\nlocked")).willSetStateTo("up"));
    receiver.stubFor(post("/hook").inScenario("flaky").whenScenarioStateIs("up")
        .willReturn(aResponse().withStatus(204)));
    ledger.nodeStore().halt("A", BAD_LINE, "tree1");
    Instant first = clock.instant();
    WebhookWorker worker = worker(ledger, Duration.ofDays(3));

    assertThat(worker.deliverDue()).isEqualTo(1);
    String id = received().get(0).getHeader("webhook-id");
    Delivery failed = delivery(id);
    assertThat(failed.status()).isEqualTo(Delivery.Status.PENDING);
    assertThat(failed.attempts()).isEqualTo(1);
    assertThat(failed.lastStatusCode()).isEqualTo(500);
    assertThat(failed.lastError()).isEqualTo("the receiver at http://127.0.0.1:" + receiver.port()
        + " answered HTTP 500: database locked");
    // The first retry's ceiling is 5 s; the jitter draws half of it.
    assertThat(failed.nextAttemptAt()).isEqualTo(first.plusMillis(2_500));

    clock.advance(Duration.ofMillis(2_499));
    assertThat(worker.deliverDue()).as("not due before its time").isZero();
    clock.advance(Duration.ofMillis(1));
    assertThat(worker.deliverDue()).isEqualTo(1);

    List<LoggedRequest> requests = received();
    assertThat(requests).extracting(r -> r.getHeader("webhook-id")).containsExactly(id, id);
    assertThat(requests).extracting(r -> r.getHeader("webhook-timestamp"))
        .containsExactly(Long.toString(first.getEpochSecond()), Long.toString(first.plusMillis(2_500).getEpochSecond()));
    assertThat(requests.get(0).getBodyAsString()).isEqualTo(requests.get(1).getBodyAsString());
    requests.forEach(WebhookWorkerIT::verified);
    Delivery delivered = delivery(id);
    assertThat(delivered.status()).isEqualTo(Delivery.Status.DELIVERED);
    assertThat(delivered.attempts()).isEqualTo(2);
    assertThat(delivered.lastError()).isNull();
    assertThat(delivered.lastStatusCode()).isEqualTo(204);
  }

  @Test
  void deliveryIsGivenUpAtTheConfiguredTimeAndARetryThenDeliversIt() throws Exception {
    answer(503);
    ledger.nodeStore().halt("A", BAD_LINE, "tree1");
    Instant created = clock.instant();
    WebhookWorker worker = worker(ledger, Duration.ofHours(1));
    String id = ledger.outbox().deliveries(null, null, 1).get(0).eventId();
    while (delivery(id).status() == Delivery.Status.PENDING) {
      assertThat(worker.deliverDue()).isEqualTo(1);
      Delivery d = delivery(id);
      if (d.nextAttemptAt() != null) {
        clock.advance(Duration.between(clock.instant(), d.nextAttemptAt()));
      }
    }
    // Half of each ceiling (5 s doubling): 2.5, 5, 10, ... 1280 s after each failure, so the attempts
    // start at these offsets; the next delay (2560 s) would pass the hour, so the last is at 3600 s.
    double[] offsets = {0, 2.5, 7.5, 17.5, 37.5, 77.5, 157.5, 317.5, 637.5, 1277.5, 2557.5, 3600};
    List<String> expected = java.util.Arrays.stream(offsets)
        .mapToObj(s -> Long.toString(created.plusMillis((long) (s * 1000)).getEpochSecond())).toList();
    assertThat(received()).extracting(r -> r.getHeader("webhook-timestamp")).containsExactlyElementsOf(expected);
    assertThat(received()).extracting(r -> r.getHeader("webhook-id")).containsOnly(id);
    Delivery failed = delivery(id);
    assertThat(failed.status()).isEqualTo(Delivery.Status.FAILED);
    assertThat(failed.attempts()).isEqualTo(12);
    assertThat(failed.failedAt()).isEqualTo(created.plus(Duration.ofHours(1)));
    assertThat(failed.nextAttemptAt()).isNull();
    assertThat(failed.lastError()).endsWith("answered HTTP 503: boom");
    clock.advance(Duration.ofDays(1));
    assertThat(worker.deliverDue()).as("a failed event waits for an admin").isZero();

    answer(200);
    ledger.outbox().retryNow(id, "alice");
    assertThat(worker.deliverDue()).isEqualTo(1);
    Delivery delivered = delivery(id);
    assertThat(delivered.status()).isEqualTo(Delivery.Status.DELIVERED);
    assertThat(delivered.attempts()).isEqualTo(13);
    assertThat(received()).hasSize(13).extracting(r -> r.getHeader("webhook-id")).containsOnly(id);
    verified(received().get(12));
  }

  @Test
  void aFailedRetryAfterTheGiveUpTimeIsFailedAgainAtOnce() throws Exception {
    answer(500);
    ledger.nodeStore().halt("A", BAD_LINE, "tree1");
    String id = ledger.outbox().deliveries(null, null, 1).get(0).eventId();
    clock.advance(Duration.ofHours(2));
    WebhookWorker worker = worker(ledger, Duration.ofHours(1));
    assertThat(worker.deliverDue()).isEqualTo(1);
    assertThat(delivery(id).status()).as("an event older than the give-up time gets one attempt")
        .isEqualTo(Delivery.Status.FAILED);
    ledger.outbox().retryNow(id, "alice");
    assertThat(worker.deliverDue()).isEqualTo(1);
    assertThat(delivery(id).status()).isEqualTo(Delivery.Status.FAILED);
    assertThat(delivery(id).attempts()).isEqualTo(2);
  }

  @Test
  void anEventOfATransactionThatRolledBackIsNeverDelivered() throws Exception {
    answer(200);
    ledger.nodeStore().halt("A", BAD_LINE, "tree1");
    WebhookWorker worker = worker(ledger, Duration.ofDays(3));
    assertThat(worker.deliverDue()).isEqualTo(1);
    // A dry run consumes the halted node, which writes its node.resumed, then rolls everything back.
    try (NodeStore.NodeWrite dryRun = ledger.nodeStore().beginNode("A", true)) {
      dryRun.add("nodes/A/usage_2026-11-21-10.toml", List.of(new UsageRecord("k", "u1", 5,
          Instant.parse("2026-11-21T10:00:00Z"), null, null, 1)));
      dryRun.commit(new NodeCursor("c0ffee", "7ree", null));
    }
    clock.advance(Duration.ofDays(1));
    assertThat(worker.deliverDue()).isZero();
    assertThat(received()).extracting(r -> verified(r).getString("type")).containsExactly("node.halted");
    assertThat(ledger.outbox().deliveries(null, null, 10)).hasSize(1);
  }

  @Test
  void aRestartDeliversPendingEventsWithTheirIds() throws Exception {
    answer(500);
    ledger.nodeStore().halt("A", BAD_LINE, "tree1");
    assertThat(worker(ledger, Duration.ofDays(3)).deliverDue()).isEqualTo(1);
    ledger.nodeStore().resume("A");
    ledger.nodeStore().halt("B", BAD_LINE, "tree2");
    // The process dies while posting B's event: claimed, never answered.
    List<Delivery> inFlight = ledger.outbox().claimDue(10, Duration.ofSeconds(80));
    assertThat(inFlight).extracting(Delivery::type).containsExactly("node.resumed", "node.halted");
    List<String> ids = new java.util.ArrayList<>(ledger.outbox().deliveries(null, null, 10).stream()
        .map(Delivery::eventId).toList());
    java.util.Collections.reverse(ids);
    ledger.close();

    answer(200);
    ledger = open();
    WebhookWorker restarted = worker(ledger, Duration.ofDays(3));
    clock.advance(Duration.ofSeconds(3));
    assertThat(restarted.deliverDue()).as("only the first event is due: the others' claim has not lapsed").isEqualTo(1);
    clock.advance(Duration.ofSeconds(77));
    assertThat(restarted.deliverDue()).isEqualTo(2);

    assertThat(received()).extracting(r -> r.getHeader("webhook-id"))
        .containsExactly(ids.get(0), ids.get(0), ids.get(1), ids.get(2));
    received().forEach(WebhookWorkerIT::verified);
    assertThat(ledger.outbox().deliveries(null, null, 10)).extracting(Delivery::status, Delivery::attempts)
        .containsExactly(org.assertj.core.groups.Tuple.tuple(Delivery.Status.DELIVERED, 2),
            org.assertj.core.groups.Tuple.tuple(Delivery.Status.DELIVERED, 2),
            org.assertj.core.groups.Tuple.tuple(Delivery.Status.DELIVERED, 2));
  }
}
