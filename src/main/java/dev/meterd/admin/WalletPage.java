package dev.meterd.admin;

import dev.meterd.ledger.DailySpend;
import dev.meterd.ledger.Idempotent;
import dev.meterd.ledger.Ledger;
import dev.meterd.ledger.SettingsChange;
import dev.meterd.ledger.TxnType;
import dev.meterd.ledger.Wallet;
import dev.meterd.ledger.WalletSpend;
import dev.meterd.policy.WalletSettings;
import io.vertx.core.MultiMap;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.LocalDate;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One wallet's page, {@code /admin/ui/users/{user}}: its balance and transactions, its spend this
 * cycle against its budget and today against its cap, its usage per day, its active holds
 * ({@link WalletHolds}), its settings with the form that changes them, and a form that credits it
 * (grant, top-up or refund).
 *
 * <p>The credit form is as idempotent as the API: the page puts a fresh random idempotency key in
 * it each time it is shown, and the post is the API's write under that key, so a form submitted
 * twice (a double click, a reload that posts again) credits once, and a top-up's payment id is
 * credited once whatever the key. Each post answers with a redirect to the page, with a notice.
 */
final class WalletPage {

  private static final Logger log = LoggerFactory.getLogger(WalletPage.class);
  static final String PATH = AdminPages.PATH + "/users/";
  static final int CHART_DAYS = 30;
  static final int CHANGES_SHOWN = 20;

  private final Vertx vertx;
  private final Ledger ledger;
  private final AdminPages pages;
  private final Money money;
  private final Clock clock;
  private final long maxGrantCents;
  private final List<Integer> thresholdsPct;
  private final WalletHolds holds;
  private final SecureRandom random = new SecureRandom();

  WalletPage(Vertx vertx, Ledger ledger, AdminPages pages, Money money, Clock clock, long maxGrantCents,
      List<Integer> thresholdsPct) {
    this.vertx = vertx;
    this.ledger = ledger;
    this.pages = pages;
    this.money = money;
    this.clock = clock;
    this.maxGrantCents = maxGrantCents;
    this.thresholdsPct = List.copyOf(thresholdsPct);
    this.holds = new WalletHolds(vertx, ledger, money);
  }

  /** Mounts the page and its forms; behind authentication. */
  void mount(Router router) {
    router.get(PATH + ":user").handler(this::show);
    router.post(PATH + ":user/settings").handler(this::saveSettings);
    router.post(PATH + ":user/credit").handler(this::credit);
    holds.mount(router);
  }

  static String path(String userSid) {
    return PATH + URLEncoder.encode(userSid, StandardCharsets.UTF_8);
  }

  private void show(RoutingContext ctx) {
    String user = ctx.pathParam("user");
    String message = ctx.request().getParam("message");
    pages.page(ctx, "wallet", () -> {
      Wallet wallet = ledger.reads().wallet(user).orElseThrow(() -> new ApiException(404, "no wallet for user " + user));
      LocalDate today = LocalDate.ofInstant(clock.instant(), ZoneOffset.UTC);
      WalletSpend spend = ledger.reads().spend(user, YearMonth.from(today), today);
      Map<String, Object> model = new HashMap<>();
      model.put("wallet", wallet);
      model.put("transactions", ledger.reads().transactions(user, AdminApi.MAX_PAGE));
      model.put("message", message);
      model.put("budget", budgetBar(wallet.settings(), spend).model());
      model.put("cap", capBar(wallet.settings(), spend).model());
      model.put("chart", chart(ledger.reads().dailySpend(user, today.minusDays(CHART_DAYS - 1), today.plusDays(1)),
          today));
      model.put("holds", holds.model(wallet));
      model.put("settings", settingsForm(wallet.settings()));
      model.put("changes", changes(ledger.reads().settingsChanges(user, CHANGES_SHOWN)));
      model.put("creditKey", newKey());
      model.put("currency", money.currencyCode());
      model.put("maxGrant", money.format(maxGrantCents));
      return model;
    });
  }

  /** The cycle's charges against the monthly budget, marked at the alert thresholds. */
  SpendBar budgetBar(WalletSettings settings, WalletSpend spend) {
    long budget = settings.monthlyBudgetCents();
    String waived = spend.cycleWaivedCents() == 0 ? "" : " · " + money.format(spend.cycleWaivedCents())
        + " waived by the daily cap";
    String text = budget == 0
        ? money.format(spend.cycleChargedCents()) + " spent in " + spend.cycle() + " · no monthly budget" + waived
        : money.format(spend.cycleChargedCents()) + " of " + money.format(budget) + " budget spent in " + spend.cycle()
            + " (" + SpendBar.pct(spend.cycleChargedCents(), budget) + "%)" + waived;
    return SpendBar.of(spend.cycleChargedCents(), budget, thresholdsPct, text);
  }

  /** Today's charges against the daily cap. */
  SpendBar capBar(WalletSettings settings, WalletSpend spend) {
    long cap = settings.dailyCapCents();
    String waived = spend.dayWaivedCents() == 0 ? "" : " · " + money.format(spend.dayWaivedCents()) + " waived";
    String text = cap == 0
        ? money.format(spend.dayChargedCents()) + " charged on " + spend.day() + " · no daily cap" + waived
        : money.format(spend.dayChargedCents()) + " of " + money.format(cap) + " daily cap charged on " + spend.day()
            + " (" + SpendBar.pct(spend.dayChargedCents(), cap) + "%)" + waived;
    return SpendBar.of(spend.dayChargedCents(), cap, List.of(), text);
  }

  /** The wallet's last {@value #CHART_DAYS} days to today. */
  private Map<String, Object> chart(List<DailySpend> days, LocalDate today) {
    Map<LocalDate, UsageChart.Usage> byDay = new HashMap<>();
    days.forEach(d -> byDay.put(d.day(), new UsageChart.Usage(d.chargedCents(), d.waivedCents(), null)));
    return UsageChart.byDay(today, CHART_DAYS, byDay, money);
  }

  /** The settings form's fields: amounts as typed (empty for off), and the cents they were shown as. */
  private Map<String, Object> settingsForm(WalletSettings settings) {
    Map<String, Object> form = new LinkedHashMap<>();
    for (WalletForms.Setting s : WalletForms.Setting.values()) {
      long cents = s.of(settings);
      form.put(s.field, cents == 0 ? "" : money.plain(cents));
      form.put(WalletForms.SHOWN_PREFIX + s.field, Long.toString(cents));
      form.put(s.field + "_shown", WalletForms.amountOrOff(cents, money));
    }
    form.put(WalletForms.ENABLED, settings.enabled());
    return form;
  }

  private List<Map<String, Object>> changes(List<SettingsChange> changes) {
    List<Map<String, Object>> rows = new ArrayList<>();
    for (SettingsChange c : changes) {
      rows.add(Map.of("changedAt", c.changedAt().toString(), "by", c.initiatedBy(),
          "what", WalletForms.describe(c.before(), c.after(), money)));
    }
    return rows;
  }

  /** A key no other form gets: 128 random bits. */
  private String newKey() {
    byte[] bytes = new byte[16];
    random.nextBytes(bytes);
    return "page-" + Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
  }

  // ---- the forms

  /**
   * The form's request for the wallet of {@code user}; empty once a form it refuses has been
   * answered with a notice that says why, after {@code refusal}.
   */
  private <T> Optional<T> read(RoutingContext ctx, String user, String refusal, Function<MultiMap, T> form) {
    try {
      GrantRequest.checkUser(user);
      return Optional.of(form.apply(ctx.request().formAttributes()));
    } catch (ApiException e) {
      AdminPages.seeOther(ctx, path(user), refusal + e.getMessage() + ".");
      return Optional.empty();
    }
  }

  private void saveSettings(RoutingContext ctx) {
    String user = ctx.pathParam("user");
    String by = AdminApi.adminName(ctx);
    Optional<WalletSettings.Patch> read = read(ctx, user, "Settings not saved: ",
        form -> WalletForms.settingsPatch(form, money));
    if (read.isEmpty()) {
      return;
    }
    WalletSettings.Patch patch = read.get();
    if (patch.empty()) {
      AdminPages.seeOther(ctx, path(user), "Nothing to save: the settings are as they were shown.");
      return;
    }
    vertx.executeBlocking(() -> ledger.walletStore().updateSettings(user, patch, by), false).onComplete(ar -> {
      if (ar.succeeded()) {
        log.info("wallet settings of {} changed by {} on the wallet page", user, by);
      }
      AdminPages.seeOther(ctx, path(user), ar.succeeded()
          ? "Settings saved by " + by + ": " + WalletForms.describe(patch, money) + "."
          : "Settings not saved: " + ar.cause().getMessage());
    });
  }

  private void credit(RoutingContext ctx) {
    String user = ctx.pathParam("user");
    String by = AdminApi.adminName(ctx);
    read(ctx, user, "Nothing was credited: ", form -> WalletForms.credit(form, money, maxGrantCents))
        .ifPresent(credit -> vertx.executeBlocking(() -> creditOnce(user, credit, by), false)
            .onComplete(ar -> AdminPages.seeOther(ctx, path(user),
                ar.succeeded() ? notice(ar.result()) : "Nothing was credited: " + ar.cause().getMessage())));
  }

  /** The API's write under the form's key: a grant, or a payment credited once per payment id too. */
  private Idempotent creditOnce(String user, WalletForms.Credit c, String by) {
    Idempotent outcome = c.type() == TxnType.GRANT
        ? new GrantRequest(user, c.amountCents(), c.note()).creditOnce(ledger, c.idempotencyKey(), by)
        : new PaymentRequest(user, c.type(), c.amountCents(), c.paymentId(), c.note())
            .recordOnce(ledger, c.idempotencyKey(), by);
    if (outcome instanceof Idempotent.Applied) {
      log.info("{} of {} cents to {} by {} on the wallet page", c.type().sqlName(), c.amountCents(), user, by);
    }
    return outcome;
  }

  /** What the credit did, from the transaction the API answered with. */
  private String notice(Idempotent outcome) {
    if (outcome instanceof Idempotent.Applied applied) {
      return credited(applied.response());
    }
    if (outcome instanceof Idempotent.AppliedBefore before) {
      // A new form for a payment id credited before: it must not read as credited now.
      return "Payment " + new JsonObject(before.response().body()).getString("payment_id")
          + " was credited before, so nothing more was credited. " + credited(before.response());
    }
    if (outcome instanceof Idempotent.Replayed replayed) {
      return "This form was submitted before, so nothing more was credited. " + credited(replayed.response());
    }
    return "This form was submitted before with other values, so nothing was credited; fill in the new form below.";
  }

  /** The credit's transaction, as the API answered it, in a sentence. */
  private String credited(Idempotent.Response response) {
    JsonObject txn = new JsonObject(response.body());
    String what = switch (TxnType.valueOf(txn.getString("type").toUpperCase(java.util.Locale.ROOT))) {
      case GRANT -> "Grant";
      case TOPUP -> "Top-up " + txn.getString("payment_id");
      case REFUND -> "Refund " + txn.getString("payment_id");
      case CHARGE -> throw new IllegalStateException("a credit answered with a charge: " + response.body());
    };
    return what + " of " + money.format(txn.getLong("amount_cents")) + " to " + txn.getString("user_sid")
        + ": transaction " + txn.getLong("txn_id") + ", recorded at " + txn.getString("occurred_at") + " by "
        + txn.getString("initiated_by") + ".";
  }
}
