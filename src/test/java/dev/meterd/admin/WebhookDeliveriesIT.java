package dev.meterd.admin;

import static com.github.tomakehurst.wiremock.client.WireMock.aResponse;
import static com.github.tomakehurst.wiremock.client.WireMock.post;
import static com.github.tomakehurst.wiremock.client.WireMock.postRequestedFor;
import static com.github.tomakehurst.wiremock.client.WireMock.urlEqualTo;
import static dev.meterd.testing.UsageRepo.HOUR_10;
import static dev.meterd.testing.UsageRepo.batch;
import static dev.meterd.testing.UsageRepo.record;
import static org.assertj.core.api.Assertions.assertThat;

import com.github.tomakehurst.wiremock.WireMockServer;
import com.github.tomakehurst.wiremock.core.WireMockConfiguration;
import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import dev.meterd.notify.WebhookSigner;
import dev.meterd.testing.MutableClock;
import dev.meterd.testing.RunningDaemon;
import dev.meterd.testing.StandardWebhooksVerifier;
import dev.meterd.testing.UsageRepo;
import io.vertx.core.MultiMap;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpResponse;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.function.Predicate;
import org.jsoup.Jsoup;
import org.jsoup.nodes.Document;
import org.jsoup.nodes.Element;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The serve daemon's webhook worker against WireMock, and the deliveries in the admin API and on
 * the admin page. The worker polls on its own thread; the test waits for what it records (with a
 * generous deadline) and moves the clock that decides when an event is due.
 */
class WebhookDeliveriesIT {

  private static final String SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

  @TempDir
  Path tmp;

  private final MutableClock clock = new MutableClock(Instant.parse("2026-11-21T10:05:00Z"));
  private final WireMockServer receiver = new WireMockServer(WireMockConfiguration.options().dynamicPort()
      .bindAddress("127.0.0.1"));
  private UsageRepo repo;
  private RunningDaemon daemon;

  @BeforeEach
  void setUp() throws Exception {
    receiver.start();
    answer(500);
    repo = new UsageRepo(tmp.resolve("usage.git"));
    // u1 has credit for its record: the only event is B's halt (a charge below zero sends wallet.depleted).
    try (dev.meterd.ledger.SqliteLedger ledger = dev.meterd.ledger.SqliteLedger.open(tmp.resolve("meterd.db"), clock)) {
      ledger.walletStore().credit("u1", dev.meterd.ledger.TxnType.GRANT, 100, "setup", null);
    }
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 10)),
        "nodes/B/" + HOUR_10, "schema = 1\n[[records]]\nidempotency_key = \"b\"\nuser_sid = \"u\"\ncost_cents = -5\n"
            + "occurred_at = 2026-11-21T10:00:00Z\n");
    daemon = new RunningDaemon(tmp, repo, clock, "", """
        [notify]
        webhook_url = "http://127.0.0.1:%d/hook"
        give_up_after_seconds = 60
        """.formatted(receiver.port()), WebhookSigner.fromSecret(SECRET));
    daemon.awaitStartRun(2);
  }

  @AfterEach
  void tearDown() throws Exception {
    daemon.close();
    repo.close();
    receiver.stop();
  }

  private void answer(int status) {
    receiver.resetMappings();
    receiver.stubFor(post("/hook").willReturn(aResponse().withStatus(status).withBody(status == 200 ? "" : "boom")));
  }

  private List<LoggedRequest> received() {
    return receiver.findAll(postRequestedFor(urlEqualTo("/hook")));
  }

  private JsonArray deliveries(String query) throws Exception {
    return daemon.json("GET", "/admin/webhooks/deliveries" + query).getJsonArray("deliveries");
  }

  /** The newest delivery, once it satisfies {@code condition}: the worker records on its own thread. */
  private JsonObject awaitNewest(Predicate<JsonObject> condition) throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    JsonObject newest = null;
    while (System.nanoTime() < deadline) {
      JsonArray all = deliveries("");
      newest = all.isEmpty() ? null : all.getJsonObject(0);
      if (newest != null && condition.test(newest)) {
        return newest;
      }
      Thread.sleep(50);
    }
    throw new AssertionError("the worker did not record the expected delivery within 60 s; newest: " + newest);
  }

  private void assertAuthentic(LoggedRequest r) {
    new StandardWebhooksVerifier(SECRET).verify(r.getHeader("webhook-id"), r.getHeader("webhook-timestamp"),
        r.getHeader("webhook-signature"), r.getBodyAsString(), clock.instant());
  }

  @Test
  void aFailedDeliveryIsGivenUpVisibleInTheApiAndARetryDeliversIt() throws Exception {
    JsonObject first = awaitNewest(d -> d.getInteger("attempts") == 1 && d.getString("last_error") != null);
    String id = first.getString("event_id");
    assertThat(deliveries("")).as("the run at start and the next one halt B once: one event").hasSize(1);
    assertThat(first.getString("type")).isEqualTo("node.halted");
    assertThat(first.getString("status")).isEqualTo("pending");
    assertThat(first.getInteger("last_status_code")).isEqualTo(500);
    assertThat(first.getString("last_error")).isEqualTo("the receiver at http://127.0.0.1:" + receiver.port()
        + " answered HTTP 500: boom");
    assertThat(first.getJsonObject("event").getJsonObject("data").getString("node")).isEqualTo("B");
    Instant next = Instant.parse(first.getString("next_attempt_at"));
    assertThat(next).isBetween(clock.instant().plusSeconds(1), clock.instant().plusSeconds(5));

    clock.advance(Duration.ofSeconds(61));
    JsonObject failed = awaitNewest(d -> d.getString("status").equals("failed"));
    assertThat(failed.getInteger("attempts")).isEqualTo(2);
    assertThat(failed.getString("failed_at")).isEqualTo(clock.instant().toString());
    assertThat(failed.getString("next_attempt_at")).isNull();
    assertThat(deliveries("?status=failed")).extracting(d -> ((JsonObject) d).getString("event_id"))
        .containsExactly(id);
    assertThat(deliveries("?status=pending")).isEmpty();
    HttpResponse<Buffer> badStatus = daemon.call("GET", "/admin/webhooks/deliveries?status=lost",
        RunningDaemon.ADMIN_TOKEN);
    assertThat(badStatus.statusCode()).isEqualTo(400);
    assertThat(badStatus.bodyAsJsonObject().getString("error")).isEqualTo("status must be pending, delivered or failed");

    answer(200);
    JsonObject retried = daemon.json("POST", "/admin/webhooks/deliveries/" + id + "/retry");
    assertThat(retried.getString("status")).isEqualTo("pending");
    assertThat(retried.getString("retried_by")).isEqualTo("admin");
    assertThat(retried.getString("next_attempt_at")).isEqualTo(clock.instant().toString());
    JsonObject delivered = awaitNewest(d -> d.getString("status").equals("delivered"));
    assertThat(delivered.getInteger("attempts")).isEqualTo(3);
    assertThat(delivered.getInteger("last_status_code")).isEqualTo(200);
    assertThat(delivered.getString("last_error")).isNull();

    assertThat(received()).hasSize(3).extracting(r -> r.getHeader("webhook-id")).containsOnly(id);
    received().forEach(this::assertAuthentic);
    assertThat(received()).extracting(LoggedRequest::getBodyAsString).containsOnly(first.getJsonObject("event").encode());

    HttpResponse<Buffer> again = daemon.call("POST", "/admin/webhooks/deliveries/" + id + "/retry",
        RunningDaemon.ADMIN_TOKEN);
    assertThat(again.statusCode()).isEqualTo(409);
    assertThat(again.bodyAsJsonObject().getString("error")).isEqualTo("webhook event " + id + " was delivered at "
        + clock.instant() + "; a delivered event is not sent again");
    HttpResponse<Buffer> none = daemon.call("POST", "/admin/webhooks/deliveries/evt_none/retry",
        RunningDaemon.ADMIN_TOKEN);
    assertThat(none.statusCode()).isEqualTo(404);
    assertThat(none.bodyAsJsonObject().getString("error")).isEqualTo("no webhook event evt_none");
    assertThat(daemon.call("GET", "/admin/webhooks/deliveries", RunningDaemon.ALICE_TOKEN + "x").statusCode())
        .isEqualTo(401);
  }

  private String sessionCookie() throws Exception {
    HttpResponse<Buffer> login = RunningDaemon.get(daemon.request("POST", "/admin/ui/login", null)
        .sendForm(MultiMap.caseInsensitiveMultiMap().add("token", RunningDaemon.ALICE_TOKEN)));
    String cookie = login.cookies().get(0);
    return cookie.substring(0, cookie.indexOf(';'));
  }

  private HttpResponse<Buffer> retryFromPage(String cookie, String origin, String eventId) throws Exception {
    var request = daemon.request("POST", "/admin/ui/deliveries/retry", null).putHeader("Cookie", cookie);
    if (origin != null) {
      request.putHeader("Origin", origin);
    }
    return RunningDaemon.get(request.sendForm(MultiMap.caseInsensitiveMultiMap().add("event_id", eventId)));
  }

  @Test
  void theDeliveriesPageListsEventsWithTheirErrorsAndItsButtonRetriesOne() throws Exception {
    JsonObject halted = awaitNewest(d -> d.getInteger("attempts") == 1 && d.getString("last_error") != null);
    String id = halted.getString("event_id");
    String cookie = sessionCookie();

    HttpResponse<Buffer> page = RunningDaemon.get(daemon.request("GET", "/admin/ui/deliveries", null)
        .putHeader("Cookie", cookie).send());
    assertThat(page.statusCode()).isEqualTo(200);
    Document doc = Jsoup.parse(page.bodyAsString());
    assertThat(doc.selectFirst("header nav a[aria-current=page]").text()).isEqualTo("Deliveries");
    assertThat(doc.selectFirst("#target").text()).isEqualTo("Events go to http://127.0.0.1:" + receiver.port()
        + ", signed per Standard Webhooks, and are retried with backoff until the receiver answers 2xx.");
    Element row = doc.selectFirst("#deliveries tbody tr");
    assertThat(row.select("td").eachText().subList(0, 7)).containsExactly(id, "node.halted", clock.instant().toString(),
        "pending", "1", halted.getString("next_attempt_at"),
        "the receiver at http://127.0.0.1:" + receiver.port() + " answered HTTP 500: boom");
    assertThat(row.selectFirst("form").attr("action")).isEqualTo("/admin/ui/deliveries/retry");
    assertThat(row.selectFirst("input[name=event_id]").val()).isEqualTo(id);

    HttpResponse<Buffer> foreign = retryFromPage(cookie, "http://evil.example", id);
    assertThat(foreign.statusCode()).isEqualTo(403);
    assertThat(retryFromPage(cookie, null, id).statusCode()).as("a form post without an Origin").isEqualTo(403);
    assertThat(deliveries("").getJsonObject(0).getString("retried_by")).isNull();

    // The clock stands still, so the backoff never ends: only the retry makes the event due.
    answer(200);
    HttpResponse<Buffer> retried = retryFromPage(cookie, daemon.origin(), id);
    assertThat(retried.statusCode()).isEqualTo(302);
    assertThat(URLDecoder.decode(retried.getHeader("Location"), StandardCharsets.UTF_8))
        .isEqualTo("/admin/ui/deliveries?message=Event " + id + " is due now.");
    JsonObject delivered = awaitNewest(d -> d.getString("status").equals("delivered"));
    assertThat(delivered.getString("retried_by")).isEqualTo("alice");
    assertThat(received()).hasSize(2).extracting(r -> r.getHeader("webhook-id")).containsOnly(id);
    received().forEach(this::assertAuthentic);

    Document after = Jsoup.parse(RunningDaemon.get(daemon.request("GET", "/admin/ui/deliveries?status=delivered",
        null).putHeader("Cookie", cookie).send()).bodyAsString());
    Element done = after.selectFirst("#deliveries tbody tr");
    assertThat(done.selectFirst("td.status").text()).isEqualTo("delivered at " + clock.instant());
    assertThat(done.select("form")).as("a delivered event has no retry button").isEmpty();
    assertThat(done.selectFirst("td.error").text()).isEqualTo("retried by alice at " + clock.instant());

    HttpResponse<Buffer> refused = retryFromPage(cookie, daemon.origin(), id);
    assertThat(URLDecoder.decode(refused.getHeader("Location"), StandardCharsets.UTF_8))
        .isEqualTo("/admin/ui/deliveries?message=Event " + id + " was not retried: webhook event " + id
            + " was delivered at " + clock.instant() + "; a delivered event is not sent again");
  }
}
