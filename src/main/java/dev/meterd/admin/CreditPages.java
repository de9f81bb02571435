package dev.meterd.admin;

import dev.meterd.ledger.BudgetAlert;
import dev.meterd.ledger.Ledger;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import java.time.YearMonth;
import java.time.format.DateTimeParseException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The pages of the credit policies across wallets: the budget alerts fired ({@code
 * /admin/ui/alerts}, filtered by cycle and user) and the wallets due a top-up ({@code
 * /admin/ui/topups}).
 */
final class CreditPages {

  static final String ALERTS = AdminPages.PATH + "/alerts";
  static final String TOPUPS = AdminPages.PATH + "/topups";

  private final Ledger ledger;
  private final AdminPages pages;

  CreditPages(Ledger ledger, AdminPages pages) {
    this.ledger = ledger;
    this.pages = pages;
  }

  /** Mounts the pages; behind authentication. */
  void mount(Router router) {
    router.get(ALERTS).handler(this::alerts);
    router.get(TOPUPS).handler(this::topups);
  }

  private void alerts(RoutingContext ctx) {
    String cycleText = ctx.request().getParam("cycle", "").strip();
    String user = ctx.request().getParam("user", "").strip();
    YearMonth cycle = cycle(cycleText);
    pages.page(ctx, "alerts", () -> {
      List<BudgetAlert> alerts = ledger.reads().alerts(cycle, user.isEmpty() ? null : user, AdminApi.MAX_PAGE);
      Map<String, Object> model = new HashMap<>();
      model.put("alerts", alerts);
      model.put("cycle", cycleText);
      model.put("user", user);
      model.put("limited", alerts.size() == AdminApi.MAX_PAGE);
      model.put("max", AdminApi.MAX_PAGE);
      return model;
    });
  }

  /** The cycle filter: a month {@code YYYY-MM}, or null for every cycle when left empty. */
  private static YearMonth cycle(String text) {
    if (text.isEmpty()) {
      return null;
    }
    try {
      return YearMonth.parse(text);
    } catch (DateTimeParseException e) {
      throw new ApiException(400, "cycle must be a month YYYY-MM, got " + text);
    }
  }

  private void topups(RoutingContext ctx) {
    pages.page(ctx, "topups", () -> Map.of("wallets", ledger.reads().topupsDue()));
  }
}
