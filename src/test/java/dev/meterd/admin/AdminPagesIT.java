package dev.meterd.admin;

import static dev.meterd.testing.UsageRepo.HOUR_10;
import static dev.meterd.testing.UsageRepo.batch;
import static dev.meterd.testing.UsageRepo.record;
import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.testing.RunningDaemon;
import dev.meterd.testing.UsageRepo;
import io.vertx.core.MultiMap;
import io.vertx.core.buffer.Buffer;
import io.vertx.ext.web.client.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The admin pages on the real server: login, escaping, the CSP, and the aggregator's controls. */
class AdminPagesIT {

  private static final String HOSTILE = "<script>alert(1)</script>";

  @TempDir
  Path tmp;

  private UsageRepo repo;
  private RunningDaemon daemon;

  @BeforeEach
  void setUp() throws Exception {
    repo = new UsageRepo(tmp.resolve("usage.git"));
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", HOSTILE, 10), record("a2", "u_2", 5)),
        "nodes/B/" + HOUR_10, "schema = 1\n[[records]]\nidempotency_key = \"b\"\nuser_sid = \"u\"\ncost_cents = -5\n"
            + "occurred_at = 2026-11-21T10:00:00Z\n");
    daemon = new RunningDaemon(tmp, repo);
    daemon.awaitStartRun(2);
  }

  @AfterEach
  void tearDown() throws Exception {
    daemon.close();
    repo.close();
  }

  private String sessionCookie() throws Exception {
    HttpResponse<Buffer> login = RunningDaemon.get(daemon.request("POST", "/admin/ui/login", null)
        .sendForm(MultiMap.caseInsensitiveMultiMap().add("token", RunningDaemon.ALICE_TOKEN)));
    assertThat(login.statusCode()).isEqualTo(303);
    assertThat(login.getHeader("Location")).isEqualTo("/admin/ui/");
    String cookie = login.cookies().get(0);
    assertThat(cookie).startsWith(AdminPages.SESSION_COOKIE + "=").contains("HTTPOnly").contains("SameSite=Strict")
        .contains("Path=/admin/ui");
    return cookie.substring(0, cookie.indexOf(';'));
  }

  private HttpResponse<Buffer> page(String path, String cookie) throws Exception {
    return RunningDaemon.get(daemon.request("GET", path, null).putHeader("Cookie", cookie).send());
  }

  @Test
  void pagesNeedALoginAndTheLoginSetsAStrictHttpOnlyCookie() throws Exception {
    HttpResponse<Buffer> anonymous = daemon.call("GET", "/admin/ui/", null);
    assertThat(anonymous.statusCode()).isEqualTo(303);
    assertThat(anonymous.getHeader("Location")).isEqualTo("/admin/ui/login");

    HttpResponse<Buffer> wrong = RunningDaemon.get(daemon.request("POST", "/admin/ui/login", null)
        .sendForm(MultiMap.caseInsensitiveMultiMap().add("token", "not-a-valid-token-at-all")));
    assertThat(wrong.statusCode()).isEqualTo(401);
    assertThat(wrong.bodyAsString()).contains("That token is not valid.");
    assertThat(wrong.cookies()).isEmpty();

    String cookie = sessionCookie();
    HttpResponse<Buffer> overview = page("/admin/ui/", cookie);
    assertThat(overview.statusCode()).isEqualTo(200);
    assertThat(overview.bodyAsString()).contains("<span class=\"value\" id=\"wallets\">2</span>")
        .contains("1 of 2 nodes halted").contains("<svg class=\"chart\"").contains("<span>alice</span>");

    assertThat(daemon.call("GET", "/admin/ui/users", RunningDaemon.ADMIN_TOKEN).statusCode()).isEqualTo(200);
    assertThat(RunningDaemon.get(daemon.request("GET", "/admin/aggregator-state", null).putHeader("Cookie", cookie)
        .send()).statusCode()).as("the cookie opens pages, not the JSON API").isEqualTo(401);

    HttpResponse<Buffer> logout = RunningDaemon.get(daemon.request("POST", "/admin/ui/logout", null)
        .putHeader("Cookie", cookie).send());
    assertThat(logout.statusCode()).isEqualTo(303);
    assertThat(page("/admin/ui/", cookie).statusCode()).isEqualTo(303);
  }

  @Test
  void everyPageCarriesTheContentSecurityPolicyAndShowsAHostileUserAsText() throws Exception {
    String cookie = sessionCookie();
    String encodedUser = java.net.URLEncoder.encode(HOSTILE, java.nio.charset.StandardCharsets.UTF_8);
    for (String path : List.of("/admin/ui/", "/admin/ui/users", "/admin/ui/users/" + encodedUser,
        "/admin/ui/payments", "/admin/ui/aggregator", "/admin/ui/login")) {
      HttpResponse<Buffer> r = page(path, cookie);
      assertThat(r.statusCode()).as(path).isEqualTo(200);
      assertThat(r.getHeader("Content-Security-Policy")).as(path).isEqualTo(AdminPages.CSP);
      assertThat(r.getHeader("Content-Type")).as(path).isEqualTo("text/html; charset=utf-8");
      assertThat(r.bodyAsString()).as(path).doesNotContain("<script");
    }
    assertThat(page("/admin/ui/users", cookie).bodyAsString()).contains("&lt;script&gt;alert(1)&lt;/script&gt;");
    assertThat(page("/admin/ui/users/" + encodedUser, cookie).bodyAsString())
        .contains("<h1 id=\"user\">&lt;script&gt;alert(1)&lt;/script&gt;</h1>");
    assertThat(page("/admin/ui/users?q=" + encodedUser, cookie).bodyAsString())
        .contains("value=\"&lt;script&gt;alert(1)&lt;/script&gt;\"");
  }

  @Test
  void theAggregatorPageShowsTheHaltedNodesErrorAndResumesIt() throws Exception {
    String cookie = sessionCookie();
    String html = page("/admin/ui/aggregator", cookie).bodyAsString();
    assertThat(html).contains("nodes/B/" + HOUR_10 + ":5: cost_cents must be &gt;= 0, got -5")
        .contains("<input type=\"hidden\" name=\"node\" value=\"B\">");

    HttpResponse<Buffer> foreign = RunningDaemon.get(daemon.request("POST", "/admin/ui/aggregator/resume", null)
        .putHeader("Cookie", cookie).putHeader("Origin", "http://evil.example")
        .sendForm(MultiMap.caseInsensitiveMultiMap().add("node", "B")));
    assertThat(foreign.statusCode()).isEqualTo(403);
    assertThat(daemon.json("GET", "/admin/aggregator-state").getJsonArray("nodes").getJsonObject(1)
        .getString("status")).isEqualTo("halted");

    HttpResponse<Buffer> resumed = RunningDaemon.get(daemon.request("POST", "/admin/ui/aggregator/resume", null)
        .putHeader("Cookie", cookie).sendForm(MultiMap.caseInsensitiveMultiMap().add("node", "B")));
    assertThat(resumed.statusCode()).isEqualTo(302);
    assertThat(resumed.getHeader("Location")).contains("resumed+by+alice");
    assertThat(daemon.json("GET", "/admin/aggregator-state").getJsonArray("nodes").getJsonObject(1)
        .getString("status")).isEqualTo("ok");

    HttpResponse<Buffer> run = RunningDaemon.get(daemon.request("POST", "/admin/ui/aggregator/run", null)
        .putHeader("Cookie", cookie).send());
    assertThat(run.statusCode()).isEqualTo(302);
    assertThat(run.getHeader("Location")).contains("1+nodes+halted");
  }

  @Test
  void theStylesheetIsServedWithoutLogin() throws Exception {
    HttpResponse<Buffer> css = daemon.call("GET", "/admin/ui/static/admin.css", null);
    assertThat(css.statusCode()).isEqualTo(200);
    assertThat(css.getHeader("Content-Type")).isEqualTo("text/css; charset=utf-8");
    assertThat(css.bodyAsString()).contains(".chart rect");
  }
}
