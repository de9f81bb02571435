package dev.meterd.admin;

import static dev.meterd.testing.UsageRepo.batch;
import static dev.meterd.testing.UsageRepo.record;
import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.testing.RunningDaemon;
import dev.meterd.testing.UsageRepo;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpResponse;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code PATCH /admin/wallets/{user}} and {@code GET /admin/alerts} on the real server. */
class WalletSettingsIT {

  @TempDir
  Path tmp;

  private UsageRepo repo;
  private RunningDaemon daemon;

  @BeforeEach
  void setUp() throws Exception {
    repo = new UsageRepo(tmp.resolve("usage.git"));
    daemon = new RunningDaemon(tmp, repo, java.time.Clock.fixed(java.time.Instant.parse("2026-11-21T10:05:00Z"),
        java.time.ZoneOffset.UTC), "");
  }

  @AfterEach
  void tearDown() throws Exception {
    daemon.close();
    repo.close();
  }

  private HttpResponse<Buffer> patch(String user, String body) throws Exception {
    return RunningDaemon.get(daemon.request("PATCH", "/admin/wallets/" + user, RunningDaemon.ADMIN_TOKEN)
        .putHeader("Content-Type", "application/json").sendBuffer(Buffer.buffer(body)));
  }

  @Test
  void patchSetsTheSettingsTheWalletJsonShowsAndAlertsFireAgainstThem() throws Exception {
    HttpResponse<Buffer> r = patch("u1", "{\"monthly_budget_cents\": 1000, \"daily_cap_cents\": 600}");
    assertThat(r.statusCode()).as(r.bodyAsString()).isEqualTo(200);
    JsonObject wallet = r.bodyAsJsonObject();
    assertThat(wallet.getLong("balance_cents")).isZero();
    assertThat(wallet.getLong("monthly_budget_cents")).isEqualTo(1000);
    assertThat(wallet.getLong("daily_cap_cents")).isEqualTo(600);
    assertThat(wallet.getLong("auto_topup_threshold_cents")).isZero();
    assertThat(wallet.getLong("auto_topup_amount_cents")).isZero();
    assertThat(wallet.getBoolean("enabled")).isTrue();

    String today = "2026-11-21";
    repo.commit("nodes/A/" + UsageRepo.HOUR_10, batch(record("r1", "u1", 500, today + "T00:00:00Z"),
        record("r2", "u1", 500, today + "T00:00:01Z")));
    assertThat(daemon.call("POST", "/admin/aggregate-now", RunningDaemon.ADMIN_TOKEN).statusCode()).isEqualTo(200);

    JsonObject shown = daemon.json("GET", "/admin/wallets/u1");
    assertThat(shown.getLong("balance_cents")).isEqualTo(-600);
    JsonObject spend = shown.getJsonObject("spend");
    assertThat(spend.getString("cycle")).isEqualTo(today.substring(0, 7));
    assertThat(spend.getLong("charged_cents")).isEqualTo(600);
    assertThat(spend.getLong("waived_cents")).isEqualTo(400);
    assertThat(spend.getLong("budget_cents")).isEqualTo(1000);
    assertThat(spend.getLong("day_charged_cents")).isEqualTo(600);
    assertThat(spend.getLong("day_waived_cents")).isEqualTo(400);
    assertThat(spend.getLong("daily_remaining_cents")).isZero();

    JsonObject alerts = daemon.json("GET", "/admin/alerts?cycle=" + today.substring(0, 7) + "&user=u1");
    assertThat(alerts.getJsonArray("alerts")).hasSize(1);
    JsonObject alert = alerts.getJsonArray("alerts").getJsonObject(0);
    assertThat(alert.fieldNames()).containsExactlyInAnyOrder("user_sid", "threshold_pct", "cycle", "spent_cents",
        "budget_cents", "fired_at");
    assertThat(alert.getInteger("threshold_pct")).isEqualTo(50);
    assertThat(alert.getLong("spent_cents")).isEqualTo(600);
    assertThat(daemon.json("GET", "/admin/alerts?user=u2").getJsonArray("alerts")).isEmpty();

    JsonObject summary = daemon.json("GET", "/admin/usage/summary?bucket=day");
    JsonObject day = summary.getJsonArray("buckets").getJsonObject(0);
    assertThat(day.getLong("cost_cents")).isEqualTo(1000);
    assertThat(day.getLong("charged_cents")).isEqualTo(600);
    assertThat(day.getLong("waived_cents")).isEqualTo(400);
  }

  @Test
  void refusesEverySettingThatIsNotAnIntegerInRangeOrABooleanAndChangesNothing() throws Exception {
    Map<String, String> refused = new LinkedHashMap<>();
    String rule = "monthly_budget_cents must be an integer number of cents from 0 (off) to " + Long.MAX_VALUE
        + " (without a fraction or exponent), got ";
    refused.put("{\"monthly_budget_cents\": -1}", rule + "-1");
    refused.put("{\"monthly_budget_cents\": 9223372036854775808}", rule + "9223372036854775808");
    refused.put("{\"monthly_budget_cents\": 18446744073709551716}", rule + "18446744073709551716");
    refused.put("{\"monthly_budget_cents\": 1.0}", rule + "1.0");
    refused.put("{\"monthly_budget_cents\": 1e2}", rule + "100.0");
    refused.put("{\"monthly_budget_cents\": \"5\"}", rule + "\"5\"");
    refused.put("{\"monthly_budget_cents\": null}", rule + "null");
    refused.put("{\"enabled\": \"false\"}", "enabled must be true or false, got \"false\"");
    refused.put("{\"budget\": 5}", "unknown setting \"budget\"; the settings are monthly_budget_cents, "
        + "daily_cap_cents, auto_topup_threshold_cents, auto_topup_amount_cents, enabled");
    refused.put("{}", SettingsRequest.BODY_SHAPE);
    refused.put("[1]", SettingsRequest.BODY_SHAPE);
    refused.put("{\"daily_cap_cents\": 5, \"daily_cap_cents\": 6}",
        "the body names \"daily_cap_cents\" more than once; send each member once");
    Map<String, String> answered = new LinkedHashMap<>();
    for (String body : refused.keySet()) {
      HttpResponse<Buffer> r = patch("u1", body);
      answered.put(body, r.statusCode() + " " + r.bodyAsJsonObject().getString("error"));
      refused.put(body, "400 " + refused.get(body));
    }
    assertThat(answered).isEqualTo(refused);
    assertThat(daemon.call("GET", "/admin/wallets/u1", RunningDaemon.ADMIN_TOKEN).statusCode()).isEqualTo(404);

    HttpResponse<Buffer> max = patch("u1", "{\"monthly_budget_cents\": 9223372036854775807, \"enabled\": false}");
    assertThat(max.statusCode()).isEqualTo(200);
    assertThat(max.bodyAsJsonObject().getLong("monthly_budget_cents")).isEqualTo(Long.MAX_VALUE);
    assertThat(max.bodyAsJsonObject().getBoolean("enabled")).isFalse();
  }

  @Test
  void aBadCycleIs400() throws Exception {
    HttpResponse<Buffer> r = daemon.call("GET", "/admin/alerts?cycle=2026-13", RunningDaemon.ADMIN_TOKEN);
    assertThat(r.statusCode()).isEqualTo(400);
    assertThat(r.bodyAsJsonObject().getString("error")).isEqualTo("cycle must be a month YYYY-MM, got 2026-13");
    assertThat(daemon.call("PATCH", "/admin/wallets/u1", null).statusCode()).isEqualTo(401);
  }
}
