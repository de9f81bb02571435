package dev.meterd.admin;

import dev.meterd.ledger.Delivery;
import dev.meterd.ledger.Ledger;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The webhook deliveries, in the JSON API ({@code /admin/webhooks/deliveries}) and on the admin
 * page {@code /admin/ui/deliveries}: each event with its attempts and last error, and a retry that
 * makes a pending or failed one due now.
 */
final class WebhookDeliveries {

  private static final Logger log = LoggerFactory.getLogger(WebhookDeliveries.class);
  static final String PAGE = "/admin/ui/deliveries";

  private final Vertx vertx;
  private final Ledger ledger;
  private final AdminPages pages;
  /** Where events go (scheme, host, port), or null when no webhook_url is set. */
  private final String target;

  WebhookDeliveries(Vertx vertx, Ledger ledger, AdminPages pages, String target) {
    this.vertx = vertx;
    this.ledger = ledger;
    this.pages = pages;
    this.target = target;
  }

  /** Mounts the API and the page; behind authentication. */
  void mount(Router router) {
    router.get("/admin/webhooks/deliveries").handler(this::list);
    router.post("/admin/webhooks/deliveries/:id/retry").handler(this::retry);
    router.get(PAGE).handler(this::page);
    router.post(PAGE + "/retry").handler(this::retryFromPage);
  }

  private void list(RoutingContext ctx) {
    int limit = AdminApi.intParam(ctx, "limit", AdminApi.DEFAULT_PAGE, 1, AdminApi.MAX_PAGE);
    Delivery.Status status = statusParam(ctx);
    Long cursor = cursorParam(ctx);
    AdminApi.blocking(vertx, ctx, () -> {
      List<Delivery> page = ledger.outbox().deliveries(status, cursor, limit);
      JsonArray array = new JsonArray();
      page.forEach(d -> array.add(JsonViews.delivery(d)));
      return new JsonObject().put("deliveries", array).put("next_cursor", nextCursor(page, limit));
    });
  }

  private void retry(RoutingContext ctx) {
    String id = ctx.pathParam("id");
    String by = AdminApi.adminName(ctx);
    AdminApi.blocking(vertx, ctx, () -> JsonViews.delivery(retryNow(id, by)));
  }

  /**
   * Makes the event due now, logged with who asked.
   *
   * @throws ApiException 404 no such event, 409 it was delivered already
   */
  private Delivery retryNow(String eventId, String by) {
    Delivery d = ledger.outbox().retryNow(eventId, by)
        .orElseThrow(() -> new ApiException(404, "no webhook event " + eventId));
    if (d.status() == Delivery.Status.DELIVERED) {
      throw new ApiException(409, "webhook event " + eventId + " was delivered at " + d.deliveredAt()
          + "; a delivered event is not sent again");
    }
    log.info("webhook event {} ({}) made due now by {}", eventId, d.type(), by);
    return d;
  }

  private static Delivery.Status statusParam(RoutingContext ctx) {
    String text = ctx.request().getParam("status");
    if (text == null || text.isEmpty()) {
      return null;
    }
    try {
      return Delivery.Status.valueOf(text.toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new ApiException(400, "status must be pending, delivered or failed");
    }
  }

  private static Long cursorParam(RoutingContext ctx) {
    String text = ctx.request().getParam("cursor");
    return text == null ? null : AdminApi.longParam("cursor", text);
  }

  private static String nextCursor(List<Delivery> page, int limit) {
    return page.size() == limit ? Long.toString(page.get(page.size() - 1).seq()) : null;
  }

  // ---- the page

  private void page(RoutingContext ctx) {
    Delivery.Status status = statusParam(ctx);
    Long cursor = cursorParam(ctx);
    String message = ctx.request().getParam("message");
    pages.page(ctx, "deliveries", () -> {
      List<Delivery> page = ledger.outbox().deliveries(status, cursor, AdminApi.DEFAULT_PAGE);
      Map<String, Object> model = new HashMap<>();
      model.put("deliveries", page);
      model.put("status", status == null ? "" : status.sqlName());
      model.put("next", nextCursor(page, AdminApi.DEFAULT_PAGE));
      model.put("target", target);
      model.put("message", message);
      return model;
    });
  }

  private void retryFromPage(RoutingContext ctx) {
    String id = ctx.request().getFormAttribute("event_id");
    String by = AdminApi.adminName(ctx);
    vertx.executeBlocking(() -> retryNow(id == null ? "" : id, by), false).onComplete(ar -> {
      String message = ar.succeeded()
          ? "Event " + id + " is due now" + (target == null ? "; no webhook_url is set, so it waits." : ".")
          : "Event " + id + " was not retried: " + ar.cause().getMessage();
      ctx.redirect(PAGE + "?message=" + URLEncoder.encode(message, StandardCharsets.UTF_8));
    });
  }
}
