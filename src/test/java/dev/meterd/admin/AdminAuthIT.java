package dev.meterd.admin;

import static dev.meterd.testing.UsageRepo.HOUR_10;
import static dev.meterd.testing.UsageRepo.HOUR_11;
import static dev.meterd.testing.UsageRepo.batch;
import static dev.meterd.testing.UsageRepo.record;
import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.testing.MutableClock;
import dev.meterd.testing.RunningDaemon;
import dev.meterd.testing.UsageRepo;
import io.vertx.core.MultiMap;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpRequest;
import io.vertx.ext.web.client.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Who may move money, on the real server: the bearer token and nothing else for the JSON API;
 * the session cookie for the pages only, and for a form post only from the pages' own origin
 * (the public one behind a proxy). Node A has charged u1 10 cents; a commit waiting to be
 * aggregated would charge 7 more, and node B is halted.
 */
class AdminAuthIT {

  private static final JsonObject HUNDRED = new JsonObject().put("amount_cents", 100);

  @TempDir
  Path tmp;

  private UsageRepo repo;
  private RunningDaemon daemon;

  @BeforeEach
  void setUp() throws Exception {
    repo = new UsageRepo(tmp.resolve("usage.git"));
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 10)), "nodes/B/" + HOUR_10, "not toml");
  }

  @AfterEach
  void tearDown() throws Exception {
    if (daemon != null) {
      daemon.close();
    }
    repo.close();
  }

  private void start(Clock clock, String moreHttpConfig) throws Exception {
    daemon = new RunningDaemon(tmp, repo, clock, moreHttpConfig);
    daemon.awaitStartRun(2);
    repo.commit("nodes/A/" + HOUR_11, batch(record("a2", "u1", 7)));
  }

  private void start() throws Exception {
    start(Clock.systemUTC(), "");
  }

  /** Logs in with the form; returns the Set-Cookie line as the server sent it. */
  private String login() throws Exception {
    HttpResponse<Buffer> login = RunningDaemon.get(daemon.request("POST", "/admin/ui/login", null)
        .sendForm(MultiMap.caseInsensitiveMultiMap().add("token", RunningDaemon.ALICE_TOKEN)));
    assertThat(login.statusCode()).isEqualTo(303);
    return login.cookies().get(0);
  }

  private static String cookiePair(String setCookie) {
    return setCookie.substring(0, setCookie.indexOf(';'));
  }

  private void assertNothingMoved() throws Exception {
    assertThat(daemon.json("GET", "/admin/wallets/u1").getLong("balance_cents")).isEqualTo(-10);
    assertThat(daemon.json("GET", "/admin/list-payments").getJsonArray("transactions")).isEmpty();
    assertThat(daemon.json("GET", "/admin/aggregator-state").getJsonArray("nodes").getJsonObject(0)
        .getLong("records_consumed_total")).isEqualTo(1);
  }

  private HttpResponse<Buffer> send(String method, String path, UnaryOperator<HttpRequest<Buffer>> auth)
      throws Exception {
    HttpRequest<Buffer> r = auth.apply(daemon.request(method, path, null));
    return RunningDaemon.get(path.endsWith("/grant") ? r.sendJsonObject(HUNDRED) : r.send());
  }

  @Test
  void everyMoneyMovingEndpointRefusesAllButTheBearerTokenAndMovesNothing() throws Exception {
    start();
    String cookie = cookiePair(login());
    String basic = "Basic " + Base64.getEncoder().encodeToString(("admin:" + RunningDaemon.ADMIN_TOKEN)
        .getBytes(StandardCharsets.UTF_8));
    Map<String, UnaryOperator<HttpRequest<Buffer>>> refused = new LinkedHashMap<>();
    refused.put("no token", r -> r);
    refused.put("a wrong token", r -> r.bearerTokenAuthentication(RunningDaemon.ADMIN_TOKEN + "x"));
    refused.put("a token's prefix", r -> r.bearerTokenAuthentication(RunningDaemon.ADMIN_TOKEN.substring(0, 16)));
    refused.put("an empty bearer", r -> r.putHeader("Authorization", "Bearer "));
    refused.put("Basic with the right token", r -> r.putHeader("Authorization", basic));
    refused.put("the bare token", r -> r.putHeader("Authorization", RunningDaemon.ADMIN_TOKEN));
    refused.put("a token scheme", r -> r.putHeader("Authorization", "Token " + RunningDaemon.ADMIN_TOKEN));
    refused.put("the token as a cookie", r -> r.putHeader("Cookie", AdminPages.SESSION_COOKIE + "="
        + RunningDaemon.ADMIN_TOKEN));
    refused.put("the pages' session cookie", r -> r.putHeader("Cookie", cookie).putHeader("Origin", daemon.origin()));
    for (String path : List.of("/admin/wallets/u1/grant", "/admin/aggregate-now")) {
      for (Map.Entry<String, UnaryOperator<HttpRequest<Buffer>>> auth : refused.entrySet()) {
        HttpResponse<Buffer> r = send("POST", path, auth.getValue());
        assertThat(r.statusCode()).as(path + " with " + auth.getKey()).isEqualTo(401);
        assertThat(r.bodyAsJsonObject()).as(path + " with " + auth.getKey())
            .isEqualTo(new JsonObject().put("error", "unauthorized"));
        assertNothingMoved();
      }
    }
    // The same requests with the token move money: the refusals above were the only thing in the way.
    assertThat(send("POST", "/admin/wallets/u1/grant", r -> r.bearerTokenAuthentication(RunningDaemon.ALICE_TOKEN))
        .statusCode()).isEqualTo(200);
    assertThat(send("POST", "/admin/aggregate-now", r -> r.bearerTokenAuthentication(RunningDaemon.ALICE_TOKEN))
        .bodyAsJsonObject().getLong("debited_cents")).isEqualTo(7);
    assertThat(daemon.json("GET", "/admin/wallets/u1").getLong("balance_cents")).isEqualTo(-10 + 100 - 7);
  }

  @Test
  void aPageCookieNeverReachesTheApiHoweverThePathIsSpelled() throws Exception {
    start();
    String cookie = cookiePair(login());
    for (String path : List.of("/admin/ui/../wallets/u1/grant", "/admin/ui/%2E%2E/wallets/u1/grant",
        "/admin/ui/%2e%2e/aggregate-now", "/admin/ui/./../aggregate-now", "/admin/ui/x/../../wallets/u1/grant")) {
      HttpResponse<Buffer> r = send("POST", path, q -> q.putHeader("Cookie", cookie).putHeader("Origin",
          daemon.origin()));
      assertThat(r.statusCode()).as(path).isEqualTo(401);
      assertNothingMoved();
    }
    HttpResponse<Buffer> state = send("GET", "/admin/ui/../aggregator-state", q -> q.putHeader("Cookie", cookie));
    assertThat(state.statusCode()).isEqualTo(401);
    // What the router serves as a page is a page, whatever the spelling: the cookie opens it.
    for (String path : List.of("//admin/ui/users", "/admin//ui/users", "/admin/x/../ui/users", "/admin/%75i/users")) {
      HttpResponse<Buffer> page = send("GET", path, q -> q.putHeader("Cookie", cookie));
      assertThat(page.statusCode()).as(path).isEqualTo(200);
      assertThat(page.getHeader("Content-Security-Policy")).as(path).isEqualTo(AdminPages.CSP);
    }
  }

  private HttpResponse<Buffer> resume(String cookie, String origin) throws Exception {
    HttpRequest<Buffer> r = daemon.request("POST", "/admin/ui/aggregator/resume", null).putHeader("Cookie", cookie);
    if (origin != null) {
      r.putHeader("Origin", origin);
    }
    return RunningDaemon.get(r.sendForm(MultiMap.caseInsensitiveMultiMap().add("node", "B")));
  }

  private String nodeB() throws Exception {
    return daemon.json("GET", "/admin/aggregator-state").getJsonArray("nodes").getJsonObject(1).getString("status");
  }

  @Test
  void aFormPostIsAcceptedOnlyWithThePagesOwnOrigin() throws Exception {
    start();
    String cookie = cookiePair(login());
    Map<String, String> origins = new LinkedHashMap<>();
    origins.put("no Origin", null);
    origins.put("a foreign origin", "http://evil.example");
    origins.put("the null origin", "null");
    origins.put("another port", "http://127.0.0.1:1");
    origins.put("https on the same host", "https://127.0.0.1:" + daemon.port());
    for (Map.Entry<String, String> origin : origins.entrySet()) {
      HttpResponse<Buffer> r = resume(cookie, origin.getValue());
      assertThat(r.statusCode()).as(origin.getKey()).isEqualTo(403);
      assertThat(r.bodyAsJsonObject()).as(origin.getKey()).isEqualTo(new JsonObject().put("error",
          "cross-origin request refused: a form post must come from the admin pages' own origin"));
      assertThat(nodeB()).as(origin.getKey()).isEqualTo("halted");
    }
    HttpResponse<Buffer> run = RunningDaemon.get(daemon.request("POST", "/admin/ui/aggregator/run", null)
        .putHeader("Cookie", cookie).send());
    assertThat(run.statusCode()).isEqualTo(403);
    assertNothingMoved();

    HttpResponse<Buffer> resumed = resume(cookie, daemon.origin());
    assertThat(resumed.statusCode()).isEqualTo(302);
    assertThat(nodeB()).isEqualTo("ok");
  }

  @Test
  void aSessionLastsTwelveHoursOnTheDaemonsClock() throws Exception {
    MutableClock clock = new MutableClock(Instant.parse("2026-11-30T08:00:00Z"));
    start(clock, "");
    String setCookie = login();
    assertThat(setCookie).contains("Max-Age=43200");
    String cookie = cookiePair(setCookie);

    clock.advance(Duration.ofHours(12));
    assertThat(send("GET", "/admin/ui/", r -> r.putHeader("Cookie", cookie)).statusCode()).isEqualTo(200);

    clock.advance(Duration.ofMillis(1));
    HttpResponse<Buffer> expired = send("GET", "/admin/ui/", r -> r.putHeader("Cookie", cookie));
    assertThat(expired.statusCode()).isEqualTo(303);
    assertThat(expired.getHeader("Location")).isEqualTo("/admin/ui/login");
    HttpResponse<Buffer> post = resume(cookie, daemon.origin());
    assertThat(post.statusCode()).isEqualTo(303);
    assertThat(nodeB()).isEqualTo("halted");
    // Going back in time does not revive it: an expired session is forgotten.
    clock.advance(Duration.ofHours(-1));
    assertThat(send("GET", "/admin/ui/", r -> r.putHeader("Cookie", cookie)).statusCode()).isEqualTo(303);
  }

  @Test
  void behindAnHttpsProxyTheOriginIsThePublicOneAndTheCookieIsSecure() throws Exception {
    start(Clock.systemUTC(), "public_url = \"https://Meterd.Example.org:443/\"");
    String setCookie = login();
    assertThat(setCookie).contains("Secure").contains("HTTPOnly").contains("SameSite=Strict");
    String cookie = cookiePair(setCookie);

    HttpResponse<Buffer> direct = resume(cookie, daemon.origin());
    assertThat(direct.statusCode()).as("the listener's own origin is not the pages' origin").isEqualTo(403);
    assertThat(nodeB()).isEqualTo("halted");

    HttpResponse<Buffer> proxied = resume(cookie, "https://meterd.example.org");
    assertThat(proxied.statusCode()).isEqualTo(302);
    assertThat(nodeB()).isEqualTo("ok");

    HttpResponse<Buffer> logout = RunningDaemon.get(daemon.request("POST", "/admin/ui/logout", null)
        .putHeader("Cookie", cookie).putHeader("Origin", "https://meterd.example.org").send());
    assertThat(logout.statusCode()).isEqualTo(303);
    assertThat(logout.cookies().get(0)).contains("Secure").contains("Max-Age=0");
  }

  @Test
  void withoutAPublicUrlTheCookieIsNotSecureAndTheHostIsTheOrigin() throws Exception {
    start();
    assertThat(login()).doesNotContain("Secure");
  }

  @Test
  void aBadCursorOnThePaymentsPageIs400() throws Exception {
    start();
    for (String cursor : List.of("x", "1.5", "99999999999999999999", "")) {
      HttpResponse<Buffer> r = daemon.call("GET", "/admin/ui/payments?cursor=" + cursor, RunningDaemon.ADMIN_TOKEN);
      assertThat(r.statusCode()).as(cursor).isEqualTo(400);
      assertThat(r.bodyAsJsonObject()).as(cursor)
          .isEqualTo(new JsonObject().put("error", "cursor must be a whole number"));
    }
    assertThat(daemon.call("GET", "/admin/ui/payments?cursor=5", RunningDaemon.ADMIN_TOKEN).statusCode())
        .isEqualTo(200);
  }
}
