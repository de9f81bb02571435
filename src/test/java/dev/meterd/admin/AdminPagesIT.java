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
import java.util.Map;
import java.util.TreeMap;
import org.jsoup.Jsoup;
import org.jsoup.nodes.Document;
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
    // The charts show the days and hours to now: a fixed now keeps what they show the same on any day.
    daemon = new RunningDaemon(tmp, repo, java.time.Clock.fixed(java.time.Instant.parse("2026-11-21T10:05:00Z"),
        java.time.ZoneOffset.UTC), "");
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
        .putHeader("Cookie", cookie).putHeader("Origin", daemon.origin()).send());
    assertThat(logout.statusCode()).isEqualTo(303);
    assertThat(page("/admin/ui/", cookie).statusCode()).isEqualTo(303);
  }

  /** The policy's directives, parsed as a browser does: name to its source list. */
  private static Map<String, List<String>> directives(String csp) {
    Map<String, List<String>> parsed = new TreeMap<>();
    for (String directive : csp.split(";")) {
      List<String> words = List.of(directive.strip().split("\\s+"));
      assertThat(parsed.put(words.get(0), words.subList(1, words.size()))).as("repeated: " + words.get(0)).isNull();
    }
    return parsed;
  }

  @Test
  void everyPageCarriesTheContentSecurityPolicyAndShowsHostileTextAsText() throws Exception {
    String hostileAt = "<img src=x onerror=alert(2)>";
    repo.commit("nodes/C/" + HOUR_10, batch("\n[[records]]\nidempotency_key = \"c\"\nuser_sid = \"u\"\n"
        + "cost_cents = 1\noccurred_at = \"" + hostileAt + "\"\n"));
    assertThat(daemon.json("POST", "/admin/aggregate-now").getInteger("nodes_halted")).isEqualTo(2);

    assertThat(directives(AdminPages.CSP)).isEqualTo(Map.of(
        "default-src", List.of("'none'"), "style-src", List.of("'self'"), "img-src", List.of("'self'"),
        "form-action", List.of("'self'"), "frame-ancestors", List.of("'none'"), "base-uri", List.of("'none'")));
    String cookie = sessionCookie();
    String encodedUser = java.net.URLEncoder.encode(HOSTILE, java.nio.charset.StandardCharsets.UTF_8);
    Map<String, Document> pages = new TreeMap<>();
    for (String path : List.of("/admin/ui/", "/admin/ui/users", "/admin/ui/users/" + encodedUser,
        "/admin/ui/users?q=" + encodedUser, "/admin/ui/payments", "/admin/ui/aggregator", "/admin/ui/deliveries",
        "/admin/ui/alerts", "/admin/ui/alerts?user=" + encodedUser + "&cycle=2026-11", "/admin/ui/topups",
        "/admin/ui/deliveries?status=failed", "/admin/ui/login")) {
      HttpResponse<Buffer> r = page(path, cookie);
      assertThat(r.statusCode()).as(path).isEqualTo(200);
      assertThat(r.getHeader("Content-Security-Policy")).as(path).isEqualTo(AdminPages.CSP);
      // With no-referrer, Chromium posts the pages' forms with "Origin: null", refused as cross-origin.
      assertThat(r.getHeader("Referrer-Policy")).as(path).isEqualTo("same-origin");
      assertThat(r.getHeader("Content-Type")).as(path).isEqualTo("text/html; charset=utf-8");
      Document doc = Jsoup.parse(r.bodyAsString(), "http://127.0.0.1/");
      pages.put(path, doc);
      // Nothing the policy would have to block: no script, no handler, no inline style, nothing
      // loaded from elsewhere, every form posting back to this server.
      assertThat(doc.select("script, iframe, object, embed, base, img[onerror]")).as(path).isEmpty();
      assertThat(doc.getAllElements().stream().flatMap(e -> e.attributes().asList().stream())
          .map(a -> a.getKey()).filter(k -> k.startsWith("on") || k.equals("style"))).as(path).isEmpty();
      assertThat(doc.select("link[href], a[href], img[src]").stream()
          .map(e -> e.hasAttr("src") ? e.attr("src") : e.attr("href"))).as(path).allMatch(u -> u.startsWith("/"));
      assertThat(doc.select("form").stream().map(f -> f.attr("action"))).as(path)
          .allMatch(a -> a.startsWith("/admin/ui/"));
    }
    assertThat(pages.get("/admin/ui/users").select("td").eachText()).contains(HOSTILE);
    assertThat(pages.get("/admin/ui/users/" + encodedUser).selectFirst("h1#user").text()).isEqualTo(HOSTILE);
    assertThat(pages.get("/admin/ui/users?q=" + encodedUser).selectFirst("form.search input[name=q]").val())
        .isEqualTo(HOSTILE);
    assertThat(pages.get("/admin/ui/aggregator").select("td").eachText()).anyMatch(t -> t.contains(hostileAt));
    assertThat(pages.get("/admin/ui/alerts?user=" + encodedUser + "&cycle=2026-11")
        .selectFirst("form.search input[name=user]").val()).isEqualTo(HOSTILE);
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
        .putHeader("Cookie", cookie).putHeader("Origin", daemon.origin())
        .sendForm(MultiMap.caseInsensitiveMultiMap().add("node", "B")));
    assertThat(resumed.statusCode()).isEqualTo(302);
    assertThat(resumed.getHeader("Location")).contains("resumed+by+alice");
    assertThat(daemon.json("GET", "/admin/aggregator-state").getJsonArray("nodes").getJsonObject(1)
        .getString("status")).isEqualTo("ok");

    HttpResponse<Buffer> run = RunningDaemon.get(daemon.request("POST", "/admin/ui/aggregator/run", null)
        .putHeader("Cookie", cookie).putHeader("Origin", daemon.origin()).send());
    assertThat(run.statusCode()).isEqualTo(302);
    assertThat(run.getHeader("Location")).contains("1+node+halted");
  }

  @Test
  void aResumeThatTheDatabaseRefusesSaysSoInsteadOfNoSuchNode() throws Exception {
    String cookie = sessionCookie();
    try (java.sql.Connection other = java.sql.DriverManager.getConnection("jdbc:sqlite:" + tmp.resolve("meterd.db"));
        java.sql.Statement st = other.createStatement()) {
      st.execute("BEGIN IMMEDIATE");
      HttpResponse<Buffer> resumed = RunningDaemon.get(daemon.request("POST", "/admin/ui/aggregator/resume", null)
          .putHeader("Cookie", cookie).putHeader("Origin", daemon.origin())
          .sendForm(MultiMap.caseInsensitiveMultiMap().add("node", "B")));
      st.execute("ROLLBACK");
      assertThat(resumed.statusCode()).isEqualTo(302);
      assertThat(java.net.URLDecoder.decode(resumed.getHeader("Location"), java.nio.charset.StandardCharsets.UTF_8))
          .startsWith("/admin/ui/aggregator?message=Node B was not resumed: cannot resume node B in the database ")
          .contains("SQLITE_BUSY");
    }
    assertThat(daemon.json("GET", "/admin/aggregator-state").getJsonArray("nodes").getJsonObject(1)
        .getString("status")).isEqualTo("halted");
  }

  @Test
  void everyPageShowsAmountsAsMoneyWhileTheJsonKeepsIntegerCents() throws Exception {
    HttpResponse<Buffer> grant = RunningDaemon.get(daemon.request("POST", "/admin/wallets/u_2/grant",
        RunningDaemon.ADMIN_TOKEN).sendJsonObject(new io.vertx.core.json.JsonObject().put("amount_cents", 1851)));
    assertThat(grant.statusCode()).as(grant.bodyAsString()).isEqualTo(200);
    assertThat(daemon.json("GET", "/admin/wallets/u_2").getValue("balance_cents")).isEqualTo(1846);
    String cookie = sessionCookie();

    Document overview = Jsoup.parse(page("/admin/ui/", cookie).bodyAsString());
    assertThat(overview.selectFirst("#total-balance").text()).isEqualTo("$18.36");
    assertThat(overview.select("svg#usage-by-day g.bar > title").last().text()).isEqualTo("2026-11-21: $0.15, 2 records");

    Document users = Jsoup.parse(page("/admin/ui/users", cookie).bodyAsString());
    assertThat(users.select("#users tbody tr").eachText()).hasSize(2);
    assertThat(users.select("#users tbody td.num").eachText()).containsExactly("-$0.10", "$18.46");

    Document wallet = Jsoup.parse(page("/admin/ui/users/u_2", cookie).bodyAsString());
    assertThat(wallet.selectFirst("#balance").text()).isEqualTo("$18.46");
    assertThat(wallet.select("#transactions tbody td:nth-child(3)").eachText()).containsExactly("$18.51", "-$0.05");

    Document payments = Jsoup.parse(page("/admin/ui/payments", cookie).bodyAsString());
    assertThat(payments.select("#payments tbody td.num").eachText()).containsExactly("$18.51");
  }

  @Test
  void theOverviewChartsUsageByHourForTwoDaysAndByDayForThirtyWithLabelledAxes() throws Exception {
    repo.commit("nodes/D/usage_2026-11-20-23.toml", batch(record("d1", "u_2", 30, "2026-11-20T23:30:00Z")),
        "nodes/D/usage_2026-11-19-10.toml", batch(record("d0", "u_2", 7, "2026-11-19T10:59:59Z")));
    assertThat(daemon.json("POST", "/admin/aggregate-now").getInteger("records_consumed")).isEqualTo(2);
    Document overview = Jsoup.parse(page("/admin/ui/", sessionCookie()).bodyAsString());

    org.jsoup.nodes.Element byHour = overview.selectFirst("svg#usage-by-hour");
    List<String> hours = byHour.select("g.bar > title").eachText();
    assertThat(hours).hasSize(48).startsWith("2026-11-19 11:00 UTC: $0.00")
        .endsWith("2026-11-21 10:00 UTC: $0.15, 2 records");
    assertThat(hours.get(36)).isEqualTo("2026-11-20 23:00 UTC: $0.30, 1 record");
    assertThat(byHour.select("g.bar").get(36).selectFirst("rect.charged").attr("height")).isEqualTo("112");
    assertThat(byHour.select("g.bar").get(47).selectFirst("rect.charged").attr("height")).isEqualTo("56");
    assertThat(byHour.select("g.bar").get(0).select("rect.charged")).isEmpty();
    assertThat(byHour.select("text.x-label").eachText())
        .containsExactly("12:00", "18:00", "11-20", "06:00", "12:00", "18:00", "11-21", "06:00");
    assertThat(byHour.select("text.y-label").eachText()).containsExactly("$0.30", "$0.00");
    assertThat(byHour.select("text.axis-name").eachText()).containsExactly("cost", "hour (UTC)");

    org.jsoup.nodes.Element byDay = overview.selectFirst("svg#usage-by-day");
    assertThat(byDay.select("g.bar > title").eachText()).hasSize(30).startsWith("2026-10-23: $0.00")
        .endsWith("2026-11-19: $0.07, 1 record", "2026-11-20: $0.30, 1 record", "2026-11-21: $0.15, 2 records");
    assertThat(byDay.select("text.x-label").eachText()).containsExactly("10-24", "10-31", "11-07", "11-14", "11-21");
    assertThat(byDay.select("text.axis-name").eachText()).containsExactly("cost", "day (UTC)");
  }

  @Test
  void theStylesheetIsServedWithoutLogin() throws Exception {
    HttpResponse<Buffer> css = daemon.call("GET", "/admin/ui/static/admin.css", null);
    assertThat(css.statusCode()).isEqualTo(200);
    assertThat(css.getHeader("Content-Type")).isEqualTo("text/css; charset=utf-8");
    assertThat(css.bodyAsString()).contains(".chart rect");
  }
}
