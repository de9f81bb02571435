package dev.meterd.admin;

import static dev.meterd.testing.UsageRepo.batch;
import static dev.meterd.testing.UsageRepo.record;
import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.cli.Main;
import dev.meterd.testing.MutableClock;
import dev.meterd.testing.RunningDaemon;
import dev.meterd.testing.UsageRepo;
import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpResponse;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code GET /v1/authorize/{user}} and {@code /v1/holds} on the real server, with enforcement on
 * and off, a command line writing beside it, and the roles of tokens.
 */
class GatewayApiIT {

  private static final String REFUSED = "{\"allowed\":false,\"reason\":\"%s\","
      + "\"error\":\"Insufficient credits. Please top up your account.\"}";
  private static final String ALLOWED = "{\"allowed\":true,\"balance_cents\":%d,\"available_cents\":%d,"
      + "\"low_balance\":%s,\"daily_remaining_cents\":%s}";

  @TempDir
  Path tmp;

  private UsageRepo repo;
  private RunningDaemon daemon;
  private final MutableClock clock = new MutableClock(Instant.parse("2026-11-21T12:00:00Z"));

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

  private void start(boolean enforce) throws Exception {
    daemon = new RunningDaemon(tmp, repo, clock, "[enforcement]\nenabled = " + enforce);
  }

  private HttpResponse<Buffer> authorize(String userAndQuery) throws Exception {
    return daemon.call("GET", "/v1/authorize/" + userAndQuery, RunningDaemon.GATEWAY_TOKEN);
  }

  private static String allowed(long balance, long available, boolean low, Long dailyRemaining) {
    return ALLOWED.formatted(balance, available, low, dailyRemaining == null ? "null" : dailyRemaining.toString());
  }

  private void assertAnswer(String userAndQuery, int status, String body) throws Exception {
    HttpResponse<Buffer> r = authorize(userAndQuery);
    assertThat(r.statusCode()).as(userAndQuery + ": " + r.bodyAsString()).isEqualTo(status);
    assertThat(r.bodyAsString()).as(userAndQuery).isEqualTo(body);
    assertThat(r.getHeader("Content-Type")).isEqualTo("application/json");
  }

  private void patch(String user, JsonObject settings) throws Exception {
    HttpResponse<Buffer> r = RunningDaemon.get(daemon.request("PATCH", "/admin/wallets/" + user,
        RunningDaemon.ADMIN_TOKEN).sendJsonObject(settings));
    assertThat(r.statusCode()).as(r.bodyAsString()).isEqualTo(200);
  }

  /** One run now; while the run at start is still going (409), waits for it, up to a minute. */
  private void aggregate() throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    HttpResponse<Buffer> r = daemon.call("POST", "/admin/aggregate-now", RunningDaemon.ADMIN_TOKEN);
    while (r.statusCode() == 409 && System.nanoTime() < deadline) {
      Thread.sleep(20);
      r = daemon.call("POST", "/admin/aggregate-now", RunningDaemon.ADMIN_TOKEN);
    }
    assertThat(r.statusCode()).as(r.bodyAsString()).isEqualTo(200);
  }

  private HttpResponse<Buffer> hold(String user, long cents, String node, String key) throws Exception {
    return RunningDaemon.get(holdRequest(user, cents, node, key, 300));
  }

  private Future<HttpResponse<Buffer>> holdRequest(String user, long cents, String node, String key, long ttl) {
    return daemon.request("POST", "/v1/holds", RunningDaemon.GATEWAY_TOKEN)
        .sendJsonObject(new JsonObject().put("user_sid", user).put("amount_cents", cents).put("node", node)
            .put("idempotency_key", key).put("ttl_seconds", ttl));
  }

  /**
   * Four wallets of today (2026-11-21): depleted (granted 100, charged 150), capped (cap 300,
   * charged 300 today, 9,700 left), disabled (5,000), and funded (1,000).
   */
  private void seedWallets() throws Exception {
    daemon.grant("depleted", 100);
    daemon.grant("capped", 10_000);
    patch("capped", new JsonObject().put("daily_cap_cents", 300));
    daemon.grant("disabled", 5_000);
    patch("disabled", new JsonObject().put("enabled", false));
    daemon.grant("funded", 1_000);
    repo.commit("nodes/A/" + UsageRepo.HOUR_10, batch(record("d1", "depleted", 150), record("c1", "capped", 300)));
    aggregate();
  }

  @Test
  void enforcementOnRefusesADepletedACappedAndADisabledWalletWithTheExact402() throws Exception {
    start(true);
    seedWallets();
    assertAnswer("depleted", 402, REFUSED.formatted("insufficient_balance"));
    assertAnswer("capped?cost_cents=1", 402, REFUSED.formatted("daily_cap_reached"));
    assertAnswer("disabled?cost_cents=1", 402, REFUSED.formatted("wallet_disabled"));
    assertAnswer("nobody", 402, REFUSED.formatted("insufficient_balance"));
    assertAnswer("funded", 200, allowed(1_000, 1_000, false, null));
    assertAnswer("funded?cost_cents=1000", 200, allowed(1_000, 1_000, false, null));
    assertAnswer("funded?cost_cents=1001", 402, REFUSED.formatted("insufficient_balance"));
    // A cost of 0 is refused only below zero: a user without a wallet has exactly 0.
    assertAnswer("nobody?cost_cents=0", 200, allowed(0, 0, false, null));

    // Disabled comes first: the depleted wallet, disabled too, is refused for that.
    patch("depleted", new JsonObject().put("enabled", false));
    assertAnswer("depleted", 402, REFUSED.formatted("wallet_disabled"));

    HttpResponse<Buffer> hold = hold("capped", 1, "A", "h1");
    assertThat(hold.statusCode()).isEqualTo(402);
    assertThat(hold.bodyAsString()).isEqualTo(REFUSED.formatted("daily_cap_reached"));
  }

  @Test
  void enforcementOffAllowsTheSameRequestsFlaggedLowBalance() throws Exception {
    start(false);
    seedWallets();
    assertAnswer("depleted", 200, allowed(-50, -50, true, null));
    assertAnswer("capped?cost_cents=1", 200, allowed(9_700, 9_700, true, 0L));
    assertAnswer("disabled?cost_cents=1", 200, allowed(5_000, 5_000, true, null));
    assertAnswer("nobody", 200, allowed(0, 0, true, null));
    assertAnswer("funded?cost_cents=1001", 200, allowed(1_000, 1_000, true, null));
    assertAnswer("funded?cost_cents=1000", 200, allowed(1_000, 1_000, false, null));

    HttpResponse<Buffer> hold = hold("disabled", 6_000, "A", "h1");
    assertThat(hold.statusCode()).as(hold.bodyAsString()).isEqualTo(200);
    assertThat(hold.bodyAsJsonObject().getLong("available_cents")).isEqualTo(-1_000);
    assertThat(hold.bodyAsJsonObject().getBoolean("low_balance")).as("enforcement would have refused it").isTrue();
    assertAnswer("disabled", 200, allowed(5_000, -1_000, true, null));
    HttpResponse<Buffer> fine = hold("funded", 500, "A", "h2");
    assertThat(fine.bodyAsJsonObject().getBoolean("low_balance")).isFalse();
  }

  @Test
  void aGrantByTheCommandLineBesideTheDaemonIsSeenByTheNextAuthorize() throws Exception {
    start(true);
    patch("u1", new JsonObject().put("daily_cap_cents", 700));
    assertAnswer("u1", 402, REFUSED.formatted("insufficient_balance"));
    // Answered from the cache this time.
    assertAnswer("u1", 402, REFUSED.formatted("insufficient_balance"));

    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int exit = Main.execute(new String[] {"--config", daemon.configFile().toString(), "wallet", "grant", "u1", "500",
        "--by", "ops"}, new PrintStream(out, true), new PrintStream(err, true), Map.of());
    assertThat(exit).as(err.toString()).isZero();
    assertAnswer("u1", 200, allowed(500, 500, false, 700L));

    // The daemon's own writes too: a settings change and a run on its other connection.
    patch("u1", new JsonObject().put("enabled", false));
    assertAnswer("u1", 402, REFUSED.formatted("wallet_disabled"));
    patch("u1", new JsonObject().put("enabled", true));
    repo.commit("nodes/A/" + UsageRepo.HOUR_10, batch(record("r1", "u1", 200)));
    aggregate();
    assertAnswer("u1", 200, allowed(300, 300, false, 500L));
  }

  @Test
  void fiftyConcurrentHoldsAgainstRoomForTenGrantExactlyTen() throws Exception {
    start(true);
    daemon.grant("u1", 1_000);
    List<Future<HttpResponse<Buffer>>> calls = new ArrayList<>();
    for (int i = 0; i < 50; i++) {
      calls.add(holdRequest("u1", 100, "edge-1", "job-" + i, 300));
    }
    int granted = 0;
    int refused = 0;
    for (Future<HttpResponse<Buffer>> call : calls) {
      HttpResponse<Buffer> r = RunningDaemon.get(call);
      if (r.statusCode() == 200) {
        granted++;
        assertThat(r.bodyAsJsonObject().getLong("available_cents")).isBetween(0L, 900L);
      } else {
        assertThat(r.statusCode()).as(r.bodyAsString()).isEqualTo(402);
        assertThat(r.bodyAsString()).isEqualTo(REFUSED.formatted("insufficient_balance"));
        refused++;
      }
    }
    assertThat(granted).isEqualTo(10);
    assertThat(refused).isEqualTo(40);
    assertAnswer("u1", 402, REFUSED.formatted("insufficient_balance"));
    assertAnswer("u1?cost_cents=0", 200, allowed(1_000, 0, false, null));
  }

  @Test
  void aHoldIsSettledByItsRecordChargedOnceAtTheRecordsCostAndExpiresOnTime() throws Exception {
    start(true);
    daemon.grant("u1", 1_000);
    HttpResponse<Buffer> placed = hold("u1", 300, "A", "k1");
    assertThat(placed.statusCode()).as(placed.bodyAsString()).isEqualTo(200);
    JsonObject h = placed.bodyAsJsonObject();
    assertThat(h.getString("expires_at")).isEqualTo("2026-11-21T12:05:00Z");
    assertThat(h.getString("state")).isEqualTo("active");
    assertThat(h.getLong("available_cents")).isEqualTo(700);
    assertAnswer("u1?cost_cents=700", 200, allowed(1_000, 700, false, null));

    repo.commit("nodes/A/" + UsageRepo.HOUR_10, batch(record("k1", "u1", 250)));
    aggregate();
    assertAnswer("u1", 200, allowed(750, 750, false, null));
    HttpResponse<Buffer> release = daemon.call("DELETE", "/v1/holds/" + h.getLong("hold_id"),
        RunningDaemon.GATEWAY_TOKEN);
    assertThat(release.statusCode()).isEqualTo(409);
    assertThat(release.bodyAsJsonObject().getString("error")).isEqualTo("hold " + h.getLong("hold_id")
        + " was settled when its record k1 of node A was consumed; there is nothing to release");
    JsonObject wallet = daemon.json("GET", "/admin/wallets/u1");
    assertThat(wallet.getJsonArray("transactions").stream().map(t -> ((JsonObject) t).getLong("amount_cents")))
        .containsExactly(-250L, 1_000L);
    // The same node and key again: its hold was settled when its record was charged, and says so.
    HttpResponse<Buffer> again = hold("u1", 300, "A", "k1");
    assertThat(again.statusCode()).isEqualTo(409);
    assertThat(again.bodyAsJsonObject().getString("error")).isEqualTo("hold " + h.getLong("hold_id")
        + " of node A for idempotency_key k1 was settled when its record was consumed (charged once, at the record's "
        + "cost) and holds nothing; send a new key to hold credit again");

    // A second hold expires on time: it counts until 12:05:00 exclusive.
    assertThat(hold("u1", 500, "A", "k2").statusCode()).isEqualTo(200);
    assertAnswer("u1", 200, allowed(750, 250, false, null));
    clock.advance(Duration.ofMinutes(5).minusMillis(1));
    assertAnswer("u1", 200, allowed(750, 250, false, null));
    clock.advance(Duration.ofMillis(1));
    assertAnswer("u1", 200, allowed(750, 750, false, null));
    // Its key again is refused: an expired hold reserves nothing, and answering it would skip the check.
    HttpResponse<Buffer> expired = hold("u1", 500, "A", "k2");
    assertThat(expired.statusCode()).isEqualTo(409);
    assertThat(expired.bodyAsJsonObject().getString("error")).matches("hold [0-9]+ of node A for idempotency_key k2 "
        + "is expired and holds nothing; send a new key to hold credit again");
  }

  @Test
  void holdsAreIdempotentByNodeAndKeyAndByIdempotencyKeyAndReleasedOnce() throws Exception {
    start(true);
    daemon.grant("u1", 1_000);
    JsonObject first = hold("u1", 300, "A", "k1").bodyAsJsonObject();
    JsonObject second = hold("u1", 300, "A", "k1").bodyAsJsonObject();
    assertThat(second.getLong("hold_id")).isEqualTo(first.getLong("hold_id"));
    assertThat(second.getLong("available_cents")).isEqualTo(700);

    HttpResponse<Buffer> conflict = hold("u1", 301, "A", "k1");
    assertThat(conflict.statusCode()).isEqualTo(409);
    assertThat(conflict.bodyAsJsonObject().getString("error")).isEqualTo("node A already holds 300 cents of user u1 "
        + "for idempotency_key k1 (hold " + first.getLong("hold_id") + "); a key names one record: send a new key for "
        + "other work");

    JsonObject body = new JsonObject().put("user_sid", "u1").put("amount_cents", 200).put("node", "A")
        .put("idempotency_key", "k2").put("ttl_seconds", 60);
    HttpResponse<Buffer> keyed = RunningDaemon.get(daemon.request("POST", "/v1/holds", RunningDaemon.GATEWAY_TOKEN)
        .putHeader(IdempotencyKey.HEADER, "hold-k2").sendJsonObject(body));
    HttpResponse<Buffer> replayed = RunningDaemon.get(daemon.request("POST", "/v1/holds", RunningDaemon.GATEWAY_TOKEN)
        .putHeader(IdempotencyKey.HEADER, "hold-k2").sendJsonObject(body));
    assertThat(replayed.bodyAsString()).isEqualTo(keyed.bodyAsString());
    assertThat(replayed.getHeader(IdempotencyKey.REPLAYED_HEADER)).isEqualTo("true");
    HttpResponse<Buffer> reused = RunningDaemon.get(daemon.request("POST", "/v1/holds", RunningDaemon.GATEWAY_TOKEN)
        .putHeader(IdempotencyKey.HEADER, "hold-k2").sendJsonObject(body.copy().put("amount_cents", 201)));
    assertThat(reused.statusCode()).isEqualTo(422);
    assertAnswer("u1", 200, allowed(1_000, 500, false, null));

    String path = "/v1/holds/" + first.getLong("hold_id");
    HttpResponse<Buffer> released = daemon.call("DELETE", path, RunningDaemon.GATEWAY_TOKEN);
    assertThat(released.statusCode()).isEqualTo(200);
    assertThat(released.bodyAsJsonObject().getString("state")).isEqualTo("released");
    assertThat(released.bodyAsJsonObject().getLong("available_cents")).isEqualTo(800);
    assertThat(daemon.call("DELETE", path, RunningDaemon.GATEWAY_TOKEN).bodyAsString())
        .isEqualTo(released.bodyAsString());
    assertAnswer("u1", 200, allowed(1_000, 800, false, null));
    HttpResponse<Buffer> unknown = daemon.call("DELETE", "/v1/holds/999", RunningDaemon.GATEWAY_TOKEN);
    assertThat(unknown.statusCode()).isEqualTo(404);
    assertThat(unknown.bodyAsJsonObject().getString("error")).isEqualTo("no hold 999");

    repo.commit("nodes/A/" + UsageRepo.HOUR_10, batch(record("done", "u1", 10)));
    aggregate();
    HttpResponse<Buffer> late = hold("u1", 10, "A", "done");
    assertThat(late.statusCode()).isEqualTo(409);
    assertThat(late.bodyAsJsonObject().getString("error")).isEqualTo("the record done of node A was already "
        + "consumed, so a hold for it would never settle; nothing was held");
  }

  @Test
  void aBadCostOrHoldIsRefusedWith400NeverRoundedOrCut() throws Exception {
    start(true);
    String rule = "cost_cents must be an integer from 0 to 1000000000000 (digits only), got ";
    Map<String, String> costs = Map.of("-1", "\"-1\"", "1.5", "\"1.5\"", "1e3", "\"1e3\"", "", "\"\"",
        "%2B5", "\"+5\"", "1000000000001", "\"1000000000001\"",
        "18446744073709551617", "\"18446744073709551617\"");
    for (Map.Entry<String, String> cost : costs.entrySet()) {
      HttpResponse<Buffer> r = authorize("u1?cost_cents=" + cost.getKey());
      assertThat(r.statusCode()).as(cost.getKey()).isEqualTo(400);
      assertThat(r.bodyAsJsonObject().getString("error")).isEqualTo(rule + cost.getValue());
    }
    HttpResponse<Buffer> twice = authorize("u1?cost_cents=1&cost_cents=2");
    assertThat(twice.bodyAsJsonObject().getString("error")).isEqualTo("send cost_cents once, not 2 times");

    Map<String, String> holds = Map.of(
        "{\"user_sid\":\"u1\",\"amount_cents\":0,\"node\":\"A\",\"idempotency_key\":\"k\",\"ttl_seconds\":60}",
        "amount_cents must be an integer from 1 to 1000000000000 (without a fraction or exponent), got 0",
        "{\"user_sid\":\"u1\",\"amount_cents\":1,\"node\":\"A\",\"idempotency_key\":\"k\",\"ttl_seconds\":86401}",
        "ttl_seconds must be an integer from 1 to 86400 (without a fraction or exponent), got 86401",
        "{\"user_sid\":\"u1\",\"amount_cents\":1,\"node\":\"../A\",\"idempotency_key\":\"k\",\"ttl_seconds\":60}",
        "node must be a node's name: 1 to 64 of [A-Za-z0-9._-], starting with a letter or digit, got \"../A\"",
        "{\"user_sid\":\"u1\",\"amount_cents\":1,\"node\":\"A\",\"idempotency_key\":\"k\",\"ttl\":60}",
        "unknown member \"ttl\"; " + HoldBody.SHAPE,
        // No body at all, or the JSON null, is answered too (it was left without an answer).
        "", HoldBody.SHAPE,
        "null", HoldBody.SHAPE);
    for (Map.Entry<String, String> hold : holds.entrySet()) {
      HttpResponse<Buffer> r = RunningDaemon.get(daemon.request("POST", "/v1/holds", RunningDaemon.GATEWAY_TOKEN)
          .sendBuffer(Buffer.buffer(hold.getKey())));
      assertThat(r.statusCode()).as(hold.getKey()).isEqualTo(400);
      assertThat(r.bodyAsJsonObject().getString("error")).isEqualTo(hold.getValue());
    }
  }

  @Test
  void anAuthorizeTokenIsRefusedOutsideV1AndNoTokenIsRefusedInside() throws Exception {
    start(true);
    for (String path : List.of("/admin/list-users", "/admin/ui/", "/admin/wallets/u1")) {
      HttpResponse<Buffer> r = daemon.call("GET", path, RunningDaemon.GATEWAY_TOKEN);
      assertThat(r.statusCode()).as(path).isEqualTo(403);
      assertThat(r.bodyAsJsonObject().getString("error")).isEqualTo(AdminApi.ROLE_REFUSED);
    }
    HttpResponse<Buffer> grant = RunningDaemon.get(daemon.request("POST", "/admin/wallets/u1/grant",
        RunningDaemon.GATEWAY_TOKEN).sendJsonObject(new JsonObject().put("amount_cents", 5)));
    assertThat(grant.statusCode()).isEqualTo(403);
    HttpResponse<Buffer> login = RunningDaemon.get(daemon.request("POST", "/admin/ui/login", null)
        .putHeader("Origin", daemon.origin())
        .sendForm(io.vertx.core.MultiMap.caseInsensitiveMultiMap().add("token", RunningDaemon.GATEWAY_TOKEN)));
    assertThat(login.statusCode()).as("the pages are for admin tokens only").isEqualTo(401);
    assertThat(login.bodyAsString()).contains("That token is not valid.");
    assertThat(login.cookies()).isEmpty();

    HttpResponse<Buffer> none = daemon.call("GET", "/v1/authorize/u1", null);
    assertThat(none.statusCode()).isEqualTo(401);
    assertThat(none.bodyAsString()).isEqualTo("{\"error\":\"unauthorized\"}");
    assertThat(daemon.call("DELETE", "/v1/holds/1", "wrong-token-0123456789").statusCode()).isEqualTo(401);
    assertThat(daemon.call("GET", "/v1/authorize/u1?cost_cents=0", RunningDaemon.ADMIN_TOKEN).statusCode())
        .isEqualTo(200);
    assertThat(daemon.call("GET", "/admin/wallets/u1", RunningDaemon.ADMIN_TOKEN).statusCode())
        .as("authorize opens no wallet").isEqualTo(404);
  }

  private HttpResponse<Buffer> keyedHold(String key, String user, long cents, String node, String record, long ttl)
      throws Exception {
    return RunningDaemon.get(daemon.request("POST", "/v1/holds", RunningDaemon.GATEWAY_TOKEN)
        .putHeader(IdempotencyKey.HEADER, key).sendJsonObject(new JsonObject().put("user_sid", user)
            .put("amount_cents", cents).put("node", node).put("idempotency_key", record).put("ttl_seconds", ttl)));
  }

  private static void assertEnded(HttpResponse<Buffer> r, String error) {
    assertThat(r.statusCode()).as(r.bodyAsString()).isEqualTo(409);
    assertThat(r.getHeader(IdempotencyKey.REPLAYED_HEADER)).isNull();
    assertThat(r.bodyAsJsonObject().getString("error")).isEqualTo(error);
  }

  /**
   * A hold retried under its Idempotency-Key after it ended (expired, released, settled) is
   * answered as without the key, 409: replaying its first answer, "active", told the gateway that
   * credit was still held when it had been held again for other work (review finding).
   */
  @Test
  void aHoldRetriedUnderItsIdempotencyKeyAfterItEndedIs409NotItsFirstAnswer() throws Exception {
    start(true);
    daemon.grant("u1", 1_000);
    HttpResponse<Buffer> first = keyedHold("K1", "u1", 1_000, "edge-1", "rec-1", 60);
    assertThat(first.statusCode()).as(first.bodyAsString()).isEqualTo(200);
    long expiredId = first.bodyAsJsonObject().getLong("hold_id");
    HttpResponse<Buffer> active = keyedHold("K1", "u1", 1_000, "edge-1", "rec-1", 60);
    assertThat(active.statusCode()).isEqualTo(200);
    assertThat(active.getHeader(IdempotencyKey.REPLAYED_HEADER)).isEqualTo("true");
    assertThat(active.bodyAsString()).isEqualTo(first.bodyAsString());

    clock.advance(Duration.ofSeconds(120));
    HttpResponse<Buffer> second = keyedHold("K2", "u1", 1_000, "edge-1", "rec-2", 300);
    assertThat(second.statusCode()).as(second.bodyAsString()).isEqualTo(200);
    assertEnded(keyedHold("K1", "u1", 1_000, "edge-1", "rec-1", 60), "hold " + expiredId
        + " of node edge-1 for idempotency_key rec-1 is expired and holds nothing; send a new key to hold credit again");

    long releasedId = second.bodyAsJsonObject().getLong("hold_id");
    assertThat(daemon.call("DELETE", "/v1/holds/" + releasedId, RunningDaemon.GATEWAY_TOKEN).statusCode())
        .isEqualTo(200);
    assertEnded(keyedHold("K2", "u1", 1_000, "edge-1", "rec-2", 300), "hold " + releasedId
        + " of node edge-1 for idempotency_key rec-2 is released and holds nothing; send a new key to hold credit again");

    HttpResponse<Buffer> third = keyedHold("K3", "u1", 400, "edge-1", "rec-3", 300);
    assertThat(third.statusCode()).isEqualTo(200);
    repo.commit("nodes/edge-1/" + UsageRepo.HOUR_10, batch(record("rec-3", "u1", 250)));
    aggregate();
    // Settled: the record was charged. "Nothing was held" would tell the gateway it may redo the work.
    assertEnded(keyedHold("K3", "u1", 400, "edge-1", "rec-3", 300), "hold " + third.bodyAsJsonObject().getLong("hold_id")
        + " of node edge-1 for idempotency_key rec-3 was settled when its record was consumed (charged once, at the "
        + "record's cost) and holds nothing; send a new key to hold credit again");
    assertAnswer("u1", 200, allowed(750, 750, false, null));
  }

  /** A gateway releases the holds it placed; another gateway gets what an unknown hold gets (review finding). */
  @Test
  void aGatewayCannotReleaseAnotherGatewaysHoldButAnAdminCan() throws Exception {
    start(true);
    daemon.grant("u1", 1_000);
    long id = hold("u1", 300, "A", "k1").bodyAsJsonObject().getLong("hold_id");
    HttpResponse<Buffer> other = daemon.call("DELETE", "/v1/holds/" + id, RunningDaemon.OTHER_GATEWAY_TOKEN);
    assertThat(other.statusCode()).isEqualTo(404);
    assertThat(other.bodyAsJsonObject().getString("error")).isEqualTo("no hold " + id);
    assertAnswer("u1", 200, allowed(1_000, 700, false, null));
    HttpResponse<Buffer> admin = daemon.call("DELETE", "/v1/holds/" + id, RunningDaemon.ALICE_TOKEN);
    assertThat(admin.statusCode()).isEqualTo(200);
    assertThat(admin.bodyAsJsonObject().getString("state")).isEqualTo("released");
    assertAnswer("u1", 200, allowed(1_000, 1_000, false, null));
  }
}
