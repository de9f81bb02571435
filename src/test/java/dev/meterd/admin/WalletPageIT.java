package dev.meterd.admin;

import static dev.meterd.testing.UsageRepo.batch;
import static dev.meterd.testing.UsageRepo.record;
import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.testing.RunningDaemon;
import dev.meterd.testing.UsageRepo;
import io.vertx.core.MultiMap;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpResponse;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import org.jsoup.nodes.Document;
import org.jsoup.nodes.Element;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The wallet page on the real server, in EUR, on a clock fixed at 2026-11-21T10:05:00Z: spend
 * against budget and cap, the wallet's own usage chart, and its settings and credit forms; and the
 * pages of alerts and top-ups due across wallets.
 */
class WalletPageIT {

  private static final String NOW = "2026-11-21T10:05:00Z";

  @TempDir
  Path tmp;

  private UsageRepo repo;
  private RunningDaemon daemon;
  private PageSession session;

  @BeforeEach
  void setUp() throws Exception {
    repo = new UsageRepo(tmp.resolve("usage.git"));
    // The branch exists from the start, so that the run at start succeeds with no node yet.
    repo.commit("README", "usage of the wallet page test\n");
    daemon = new RunningDaemon(tmp, repo, Clock.fixed(Instant.parse(NOW), ZoneOffset.UTC), "",
        "[billing]\ncurrency = \"EUR\"\n", null);
    daemon.awaitStartRun(0);
    session = new PageSession(daemon, RunningDaemon.ALICE_TOKEN);
  }

  @AfterEach
  void tearDown() throws Exception {
    daemon.close();
    repo.close();
  }

  private Document page(String user) throws Exception {
    return session.get(WalletPage.path(user));
  }

  /** The fields a browser would post from the form as the page shows it. */
  private static MultiMap fields(Document page, String formId) {
    MultiMap form = MultiMap.caseInsensitiveMultiMap();
    for (Element e : page.select("form#" + formId + " input[name], form#" + formId + " select[name]")) {
      if (!e.attr("type").equals("checkbox") || e.hasAttr("checked")) {
        form.add(e.attr("name"), e.tagName().equals("select") ? e.selectFirst("option[selected]").val() : e.val());
      }
    }
    return form;
  }

  private HttpResponse<Buffer> post(String user, String action, MultiMap form, String origin) throws Exception {
    return session.post(WalletPage.path(user) + "/" + action, form, origin);
  }

  /** Posts a form from the pages' own origin and answers the notice its redirect carries. */
  private String submit(String user, String action, MultiMap form) throws Exception {
    return session.submit(WalletPage.path(user) + "/" + action, form, WalletPage.path(user));
  }

  private void patch(String user, String body) throws Exception {
    HttpResponse<Buffer> r = RunningDaemon.get(daemon.request("PATCH", "/admin/wallets/" + user,
        RunningDaemon.ADMIN_TOKEN).putHeader("Content-Type", "application/json").sendBuffer(Buffer.buffer(body)));
    assertThat(r.statusCode()).as(r.bodyAsString()).isEqualTo(200);
  }

  @Test
  void showsTheCyclesSpendAgainstTheBudgetTodaysAgainstTheCapAndTheWalletsOwnUsage() throws Exception {
    patch("u1", "{\"monthly_budget_cents\": 1000, \"daily_cap_cents\": 600}");
    repo.commit("nodes/A/usage_2026-11-20-10.toml", batch(record("r0", "u1", 100, "2026-11-20T10:00:00Z")),
        "nodes/A/" + UsageRepo.HOUR_10, batch(record("r1", "u1", 500, "2026-11-21T10:00:00Z"),
            record("r2", "u1", 500, "2026-11-21T10:00:01Z"), record("r3", "u2", 300, "2026-11-21T10:00:02Z")));
    assertThat(daemon.json("POST", "/admin/aggregate-now").getInteger("records_consumed")).isEqualTo(4);

    Document doc = page("u1");
    assertThat(doc.selectFirst("#balance").text()).isEqualTo("-€7.00");
    Element budget = doc.selectFirst("#budget");
    assertThat(budget.selectFirst("figcaption").text())
        .isEqualTo("€7.00 of €10.00 budget spent in 2026-11 (70%) · €4.00 waived by the daily cap");
    assertThat(budget.selectFirst("svg").attr("class")).isEqualTo("bar ok");
    assertThat(budget.selectFirst("svg > title").text()).isEqualTo(budget.selectFirst("figcaption").text());
    assertThat(budget.selectFirst("rect.track").attr("width")).isEqualTo("400");
    assertThat(budget.selectFirst("rect.value").attr("width")).isEqualTo("280");
    assertThat(budget.select("line.mark").eachAttr("x1")).containsExactly("200", "320", "400");
    assertThat(budget.select("text").eachText()).containsExactly("50%", "80%", "100%");

    Element cap = doc.selectFirst("#cap");
    assertThat(cap.selectFirst("figcaption").text())
        .isEqualTo("€6.00 of €6.00 daily cap charged on 2026-11-21 (100%) · €4.00 waived");
    assertThat(cap.selectFirst("svg").attr("class")).isEqualTo("bar over");
    assertThat(cap.selectFirst("rect.value").attr("width")).isEqualTo("400");

    Element chart = doc.selectFirst("svg#wallet-usage");
    List<String> titles = chart.select("g.bar > title").eachText();
    assertThat(titles).hasSize(30).startsWith("2026-10-23: €0.00")
        .endsWith("2026-11-20: €1.00", "2026-11-21: €10.00 (€6.00 charged, €4.00 waived)");
    Element today = chart.select("g.bar").last();
    assertThat(today.selectFirst("rect.charged").attr("height")).isEqualTo("67");
    assertThat(today.selectFirst("rect.waived").attr("height")).isEqualTo("45");
    assertThat(chart.select("g.bar").get(28).selectFirst("rect.charged").attr("height")).isEqualTo("11");
    assertThat(chart.select("text.y-label").eachText()).containsExactly("€10.00", "€0.00");
    assertThat(chart.select("text.x-label").eachText()).containsExactly("10-24", "10-31", "11-07", "11-14", "11-21");
    assertThat(chart.select("text.axis-name").eachText()).containsExactly("cost", "day (UTC)");

    assertThat(fields(doc, "settings").get("monthly_budget")).isEqualTo("10.00");
    assertThat(fields(doc, "settings").get("daily_cap")).isEqualTo("6.00");
    assertThat(fields(doc, "settings").get("auto_topup_threshold")).isEmpty();
    assertThat(fields(doc, "settings").get("enabled")).isEqualTo("true");
    assertThat(doc.select("#changes tbody tr").eachText())
        .containsExactly(NOW + " admin monthly budget off → €10.00, daily cap off → €6.00");
  }

  @Test
  void theSettingsFormChangesWhatItChangedAttributedToTheAdminAndKeepsTheRest() throws Exception {
    daemon.grant("u1", 100);
    MultiMap form = fields(page("u1"), "settings");
    // Another admin changes the daily cap after the page was shown: the form, which did not touch it, keeps it.
    patch("u1", "{\"daily_cap_cents\": 700}");
    form.set("monthly_budget", "25.5");
    form.remove("enabled");
    assertThat(submit("u1", "settings", form)).isEqualTo("Settings saved by alice: monthly budget €25.50, disabled.");

    JsonObject wallet = daemon.json("GET", "/admin/wallets/u1");
    assertThat(wallet.getLong("monthly_budget_cents")).isEqualTo(2550);
    assertThat(wallet.getLong("daily_cap_cents")).isEqualTo(700);
    assertThat(wallet.getBoolean("enabled")).isFalse();
    Document doc = page("u1");
    assertThat(doc.select("#changes tbody tr").eachText()).containsExactly(
        NOW + " alice monthly budget off → €25.50, disabled", NOW + " admin daily cap off → €7.00");
    assertThat(doc.selectFirst("#disabled").text()).isEqualTo("disabled");

    MultiMap again = fields(doc, "settings");
    assertThat(submit("u1", "settings", again)).isEqualTo("Nothing to save: the settings are as they were shown.");
    again.set("daily_cap", "12.345");
    assertThat(submit("u1", "settings", again)).isEqualTo("Settings not saved: daily cap must be an amount in EUR "
        + "such as 18.51 (at most 2 decimals), at most €92,233,720,368,547,758.07, or empty for off; got \"12.345\".");
    assertThat(daemon.json("GET", "/admin/wallets/u1").getLong("daily_cap_cents")).isEqualTo(700);
    assertThat(page("u1").select("#changes tbody tr")).hasSize(2);
  }

  /**
   * A post without the values the form was shown with (written by hand, or by a script) changes
   * only the fields it sends: a missing field is never taken for empty, nor a missing checkbox
   * for unchecked. It zeroed the budget and auto top-up and disabled the wallet (review finding).
   */
  @Test
  void aSettingsPostWithoutTheShownValuesChangesOnlyTheFieldsItSends() throws Exception {
    patch("u1", "{\"monthly_budget_cents\": 1000, \"auto_topup_threshold_cents\": 200, "
        + "\"auto_topup_amount_cents\": 500}");
    MultiMap capOnly = MultiMap.caseInsensitiveMultiMap().add("daily_cap", "5");
    assertThat(submit("u1", "settings", capOnly)).isEqualTo("Settings saved by alice: daily cap €5.00.");
    JsonObject wallet = daemon.json("GET", "/admin/wallets/u1");
    assertThat(List.of(wallet.getLong("monthly_budget_cents"), wallet.getLong("daily_cap_cents"),
        wallet.getLong("auto_topup_threshold_cents"), wallet.getLong("auto_topup_amount_cents")))
        .containsExactly(1000L, 500L, 200L, 500L);
    assertThat(wallet.getBoolean("enabled")).isTrue();

    // A field sent empty without its shown value is set off; an explicit "enabled" counts without
    // shown_enabled (review finding: enabled=false alone was answered "nothing to save").
    MultiMap budgetOff = MultiMap.caseInsensitiveMultiMap().add("monthly_budget", "");
    assertThat(submit("u1", "settings", budgetOff)).isEqualTo("Settings saved by alice: monthly budget off.");
    assertThat(submit("u1", "settings", MultiMap.caseInsensitiveMultiMap()))
        .isEqualTo("Nothing to save: the settings are as they were shown.");
    MultiMap disable = MultiMap.caseInsensitiveMultiMap().add("enabled", "false");
    assertThat(submit("u1", "settings", disable)).isEqualTo("Settings saved by alice: disabled.");
    MultiMap enable = MultiMap.caseInsensitiveMultiMap().add("enabled", "true");
    assertThat(submit("u1", "settings", enable)).isEqualTo("Settings saved by alice: enabled.");
    MultiMap uncheck = MultiMap.caseInsensitiveMultiMap().add("shown_enabled", "true");
    assertThat(submit("u1", "settings", uncheck)).isEqualTo("Settings saved by alice: disabled.");
    wallet = daemon.json("GET", "/admin/wallets/u1");
    assertThat(List.of(wallet.getLong("monthly_budget_cents"), wallet.getLong("daily_cap_cents"),
        wallet.getLong("auto_topup_threshold_cents"), wallet.getLong("auto_topup_amount_cents")))
        .containsExactly(0L, 500L, 200L, 500L);
    assertThat(wallet.getBoolean("enabled")).isFalse();
  }

  @Test
  void aCreditFormSubmittedTwiceCreditsOnce() throws Exception {
    daemon.grant("u1", 100);
    MultiMap form = fields(page("u1"), "credit");
    assertThat(form.get("idempotency_key")).startsWith("page-").hasSize(27);
    assertThat(form.get("kind")).isEqualTo("grant");
    form.set("amount", "18.51").set("note", "welcome");
    String granted = "Grant of €18.51 to u1: transaction 2, recorded at " + NOW + " by alice.";
    assertThat(submit("u1", "credit", form)).isEqualTo(granted);
    assertThat(submit("u1", "credit", form))
        .isEqualTo("This form was submitted before, so nothing more was credited. " + granted);
    form.set("amount", "18.52");
    assertThat(submit("u1", "credit", form)).isEqualTo(
        "This form was submitted before with other values, so nothing was credited; fill in the new form below.");
    assertThat(daemon.balance("u1")).isEqualTo(1951);

    Document doc = page("u1");
    assertThat(fields(doc, "credit").get("idempotency_key")).isNotEqualTo(form.get("idempotency_key"));
    assertThat(doc.select("#transactions tbody tr").first().text())
        .isEqualTo("2 grant €18.51 " + NOW + " alice welcome");
  }

  @Test
  void aTopUpIsRecordedOncePerPaymentIdAcrossForms() throws Exception {
    daemon.grant("u1", 100);
    MultiMap first = fields(page("u1"), "credit").set("kind", "topup").set("amount", "5").set("payment_id", "pi_1");
    String toppedUp = "Top-up pi_1 of €5.00 to u1: transaction 2, recorded at " + NOW + " by alice.";
    assertThat(submit("u1", "credit", first)).isEqualTo(toppedUp);
    MultiMap second = fields(page("u1"), "credit").set("kind", "topup").set("amount", "5").set("payment_id", "pi_1");
    assertThat(second.get("idempotency_key")).isNotEqualTo(first.get("idempotency_key"));
    // A new form of a payment credited before says so: it read as credited now (review finding).
    String creditedBefore = "Payment pi_1 was credited before, so nothing more was credited. " + toppedUp;
    assertThat(submit("u1", "credit", second)).isEqualTo(creditedBefore);
    assertThat(submit("u1", "credit", second))
        .isEqualTo("This form was submitted before, so nothing more was credited. " + toppedUp);
    assertThat(daemon.balance("u1")).isEqualTo(600);

    MultiMap other = fields(page("u1"), "credit").set("kind", "refund").set("amount", "6").set("payment_id", "pi_1");
    assertThat(submit("u1", "credit", other)).isEqualTo("Nothing was credited: payment_id \"pi_1\" was "
        + "recorded before as a topup of 500 cents to wallet u1 (transaction 2), so this refund of 600 cents to wallet u1 "
        + "was not applied; send a new payment_id for a new payment");
    MultiMap noId = fields(page("u1"), "credit").set("kind", "topup").set("amount", "5");
    assertThat(submit("u1", "credit", noId)).isEqualTo("Nothing was credited: the payment id must be a string of "
        + "1 to 200 printable ASCII characters, not starting or ending with a space; it names the payment, so that the "
        + "payment sent again is credited once.");
    MultiMap tooMuch = fields(page("u1"), "credit").set("amount", "100.01");
    assertThat(submit("u1", "credit", tooMuch)).isEqualTo("Nothing was credited: amount must be an amount in EUR "
        + "such as 18.51 (at most 2 decimals), from €0.01 to €100.00; got \"100.01\".");
    MultiMap grantWithId = fields(page("u1"), "credit").set("amount", "1").set("payment_id", "pi_2");
    assertThat(submit("u1", "credit", grantWithId)).isEqualTo(
        "Nothing was credited: a grant takes no payment id; choose top-up or refund to record a payment.");
    assertThat(daemon.balance("u1")).isEqualTo(600);
    assertThat(daemon.transactions("/admin/list-payments")).hasSize(2);
  }

  @Test
  void formsPostedFromAnotherOriginAreRefusedAndChangeNothing() throws Exception {
    daemon.grant("u1", 100);
    Document doc = page("u1");
    MultiMap credit = fields(doc, "credit").set("amount", "50");
    MultiMap settings = fields(doc, "settings").set("monthly_budget", "1");
    for (String action : List.of("credit", "settings")) {
      HttpResponse<Buffer> r = post("u1", action, action.equals("credit") ? credit : settings, "http://evil.example");
      assertThat(r.statusCode()).as(action).isEqualTo(403);
      assertThat(r.bodyAsJsonObject().getString("error"))
          .isEqualTo("cross-origin request refused: a form post must come from the admin pages' own origin");
    }
    JsonObject wallet = daemon.json("GET", "/admin/wallets/u1");
    assertThat(wallet.getLong("balance_cents")).isEqualTo(100);
    assertThat(wallet.getLong("monthly_budget_cents")).isZero();
  }

  private Document get(String path) throws Exception {
    return session.get(path);
  }

  @Test
  void theAlertsAndTopUpsDuePagesListWhatFiredAndWhatIsDue() throws Exception {
    patch("u1", "{\"monthly_budget_cents\": 1000, \"auto_topup_threshold_cents\": 500, "
        + "\"auto_topup_amount_cents\": 2000}");
    patch("u2", "{\"auto_topup_threshold_cents\": 100, \"auto_topup_amount_cents\": 1000}");
    daemon.grant("u1", 600);
    repo.commit("nodes/A/" + UsageRepo.HOUR_10, batch(record("r1", "u1", 900, "2026-11-21T10:00:00Z")));
    assertThat(daemon.json("POST", "/admin/aggregate-now").getInteger("records_consumed")).isEqualTo(1);

    Document alerts = get("/admin/ui/alerts");
    assertThat(alerts.select("#alerts tbody tr").eachText()).containsExactly(
        NOW + " u1 2026-11 80% €9.00 €10.00", NOW + " u1 2026-11 50% €9.00 €10.00");
    assertThat(alerts.selectFirst("nav a[aria-current=page]").text()).isEqualTo("Alerts");
    assertThat(get("/admin/ui/alerts?cycle=2026-11&user=u1").select("#alerts tbody tr")).hasSize(2);
    assertThat(get("/admin/ui/alerts?cycle=2026-10").select("#alerts tbody tr").eachText())
        .containsExactly("No alerts match.");
    assertThat(get("/admin/ui/alerts?user=u2").selectFirst("form.search input[name=user]").val()).isEqualTo("u2");
    HttpResponse<Buffer> badCycle = session.call("/admin/ui/alerts?cycle=11-2026");
    assertThat(badCycle.statusCode()).isEqualTo(400);
    assertThat(badCycle.bodyAsJsonObject().getString("error")).isEqualTo("cycle must be a month YYYY-MM, got 11-2026");

    Document topups = get("/admin/ui/topups");
    assertThat(topups.select("#topups tbody tr").eachText()).containsExactly(
        "u1 -€3.00 €5.00 €20.00 " + NOW,
        "u2 €0.00 €1.00 €10.00 none yet: the threshold was raised above the balance after its last write");
    assertThat(topups.select("#topups tbody a").eachAttr("href")).containsExactly("/admin/ui/users/u1",
        "/admin/ui/users/u2");
    assertThat(topups.selectFirst("nav a[aria-current=page]").text()).isEqualTo("Top-ups due");
  }
}
