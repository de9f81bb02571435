package dev.meterd.admin;

import dev.meterd.ledger.ActiveHolds;
import dev.meterd.ledger.Hold;
import dev.meterd.ledger.HoldStore;
import dev.meterd.ledger.Ledger;
import dev.meterd.ledger.Wallet;
import io.vertx.core.Vertx;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The wallet page's holds: the wallet's active holds (placed, and neither settled, released nor
 * expired at the ledger's clock), newest first, with what they hold against its balance, and a
 * Release button on each. The button releases the hold as {@code DELETE /v1/holds/{id}} does
 * with an admin token ({@link GatewayApi#release}), attributed to the admin, and answers with a
 * redirect to the page with a notice, also when the hold had ended before.
 */
final class WalletHolds {

  private static final Logger log = LoggerFactory.getLogger(WalletHolds.class);
  /** Active holds listed at most; the page says how many more there are. */
  static final int SHOWN = 100;

  private final Vertx vertx;
  private final Ledger ledger;
  private final Money money;

  WalletHolds(Vertx vertx, Ledger ledger, Money money) {
    this.vertx = vertx;
    this.ledger = ledger;
    this.money = money;
  }

  /** Mounts the Release button's post; behind authentication. */
  void mount(Router router) {
    router.post(WalletPage.PATH + ":user/holds/release").handler(this::release);
  }

  /**
   * The section's values: {@code active} (the {@link ActiveHolds}), {@code count} ("2 active
   * holds"), and {@code available}, the balance shown less what the holds listed hold in all.
   */
  Map<String, Object> model(Wallet wallet) {
    ActiveHolds active = ledger.holds().active(wallet.userSid(), SHOWN);
    Map<String, Object> model = new HashMap<>();
    model.put("active", active);
    model.put("count", AdminPages.count(active.count(), "active hold"));
    model.put("available", available(wallet.balanceCents(), active.heldCents()));
    model.put("shown", SHOWN);
    return model;
  }

  /** The balance less the holds, as money; a difference beyond a long is said as such, not wrapped. */
  private String available(long balanceCents, long heldCents) {
    try {
      return money.format(Math.subtractExact(balanceCents, heldCents));
    } catch (ArithmeticException e) {
      return "less than " + money.format(Long.MIN_VALUE);
    }
  }

  private void release(RoutingContext ctx) {
    String user = ctx.pathParam("user");
    String by = AdminApi.adminName(ctx);
    String idText = ctx.request().getFormAttribute("hold_id");
    long holdId;
    try {
      holdId = GatewayApi.holdId(idText == null ? "" : idText);
    } catch (ApiException e) {
      AdminPages.seeOther(ctx, WalletPage.path(user), "Nothing was released: " + e.getMessage() + ".");
      return;
    }
    vertx.executeBlocking(() -> releaseOne(user, holdId, by), false).onComplete(ar ->
        AdminPages.seeOther(ctx, WalletPage.path(user), ar.succeeded() ? ar.result()
            : "Hold " + holdId + " was not released: " + ar.cause().getMessage()));
  }

  /** Releases a hold of this wallet's as the admin, and says what came of it. */
  private String releaseOne(String user, long holdId, String by) {
    // The page's user must own the hold: a form posted for one wallet never ends another's hold.
    Optional<HoldStore.Released> released = GatewayApi.release(ledger, holdId, by, h -> h.userSid().equals(user));
    if (released.isEmpty()) {
      return "No hold " + holdId + " on the wallet of " + user + "; nothing was released.";
    }
    Hold h = released.get().hold();
    if (!released.get().releasedNow()) {
      return h.state() == Hold.State.SETTLED
          ? "Hold " + holdId + " was settled at " + h.endedAt() + ", when its record " + h.idempotencyKey()
              + " of node " + h.node() + " was consumed; there is nothing to release."
          : "Hold " + holdId + " was released before, by " + h.releasedBy() + " at " + h.endedAt()
              + "; nothing more was released.";
    }
    log.info("hold {} of {} cents of {} released by {} on the wallet page", holdId, h.amountCents(), user, by);
    String what = "Hold " + holdId + " of " + money.format(h.amountCents()) + " (node " + h.node() + ", key "
        + h.idempotencyKey() + ")";
    if (!h.endedAt().isBefore(h.expiresAt())) {
      return what + " had expired at " + h.expiresAt() + " and held nothing; it is marked released by " + by + ".";
    }
    // Read in the release's own transaction: no second read whose failure would deny a committed release.
    return what + " released by " + by + "; " + money.format(released.get().availableCents()) + " is available now.";
  }
}
