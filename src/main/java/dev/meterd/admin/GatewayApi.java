package dev.meterd.admin;

import dev.meterd.batch.BatchParser;
import dev.meterd.ledger.Hold;
import dev.meterd.ledger.HoldOutcome;
import dev.meterd.ledger.HoldRequest;
import dev.meterd.ledger.HoldStore;
import dev.meterd.ledger.Idempotent;
import dev.meterd.ledger.Ledger;
import dev.meterd.policy.Authorization;
import io.vertx.core.Vertx;
import io.vertx.core.json.Json;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import java.math.BigInteger;
import java.time.Clock;
import java.util.List;
import java.util.Optional;
import java.util.function.Predicate;

/**
 * The API of gateways and edge nodes, {@code /v1/...}: authorize, and holds. Any token opens it,
 * of role admin or authorize; the token's name is the {@code initiated_by} of a hold.
 *
 * <p>With enforcement on, a wallet that is disabled, capped for today, or without the available
 * credit for the cost is refused with 402; off, the same request is allowed and flagged
 * {@code low_balance}. See {@link Authorization}.
 */
final class GatewayApi {

  /** The 402's error, the same for every reason (the reason is a field of its own). */
  static final String REFUSED_ERROR = "Insufficient credits. Please top up your account.";

  private final Vertx vertx;
  private final Ledger ledger;
  private final AdminTokens tokens;
  private final boolean enforce;
  private final Clock clock;
  private final AuthorizeQueue queue;

  GatewayApi(Vertx vertx, Ledger ledger, AdminTokens tokens, boolean enforce, Clock clock) {
    this.vertx = vertx;
    this.ledger = ledger;
    this.tokens = tokens;
    this.enforce = enforce;
    this.clock = clock;
    this.queue = new AuthorizeQueue(vertx, ledger.holds(),
        (request, credit) -> answer(Authorization.decide(credit, request.costCents(), enforce)));
  }

  void mount(Router router) {
    router.route("/v1/*").handler(this::authenticate);
    router.get("/v1/authorize/:user").handler(this::authorize);
    router.post("/v1/holds").handler(this::placeHold);
    router.delete("/v1/holds/:id").handler(this::releaseHold);
  }

  private static final String ROLE = "meterd.role";

  /** Any known token, whatever its role; a missing or wrong one is 401 with no detail. */
  private void authenticate(RoutingContext ctx) {
    Optional<AdminTokens.Principal> principal = tokens.principal(AdminApi.bearerToken(ctx));
    if (principal.isEmpty()) {
      AdminApi.error(ctx, 401, "unauthorized");
      return;
    }
    ctx.put(AdminApi.ADMIN_NAME, principal.get().name());
    ctx.put(ROLE, principal.get().role());
    ctx.next();
  }

  private void authorize(RoutingContext ctx) {
    String user = user(ctx.pathParam("user"));
    Long cost = costCents(ctx.queryParam("cost_cents"));
    if (!queue.offer(new AuthorizeQueue.Pending(user, cost, ctx, vertx.getOrCreateContext()))) {
      AdminApi.error(ctx, 503, "authorize is overloaded: " + AuthorizeQueue.MAX_WAITING
          + " requests are waiting; retry shortly");
    }
  }

  /** Authorize's answer: 200 with the wallet's credit, or 402 with the reason. */
  static AuthorizeQueue.Answer answer(Authorization.Decision d) {
    if (!d.allowed()) {
      return new AuthorizeQueue.Answer(402, refusal(d.refusal()));
    }
    Authorization.Credit c = d.credit();
    Long remaining = c.dailyRemainingCents();
    // Written by hand: numbers and fixed words only, and this is the hot path.
    return new AuthorizeQueue.Answer(200, "{\"allowed\":true,\"balance_cents\":" + c.balanceCents()
        + ",\"available_cents\":" + c.availableCents() + ",\"low_balance\":" + d.lowBalance()
        + ",\"daily_remaining_cents\":" + (remaining == null ? "null" : remaining.toString()) + "}");
  }

  static String refusal(Authorization.Reason reason) {
    return "{\"allowed\":false,\"reason\":\"" + reason.apiName() + "\",\"error\":\"" + REFUSED_ERROR + "\"}";
  }

  /** A user in a path: 1 to 200 characters without control characters, as a record's user_sid. */
  private static String user(String user) {
    if (!HoldBody.validText(user)) {
      throw new ApiException(400, "the user must be 1 to " + BatchParser.MAX_TEXT_CHARS
          + " characters without control characters");
    }
    return user;
  }

  /**
   * The cost of {@code ?cost_cents=N}, or null without one: digits only, 0 to the largest cost a
   * record may have; anything else is refused, never rounded or cut.
   */
  static Long costCents(List<String> values) {
    if (values.isEmpty()) {
      return null;
    }
    if (values.size() > 1) {
      throw new ApiException(400, "send cost_cents once, not " + values.size() + " times");
    }
    String text = values.get(0);
    boolean digits = !text.isEmpty() && text.chars().allMatch(c -> c >= '0' && c <= '9');
    if (!digits || new BigInteger(text).compareTo(BigInteger.valueOf(BatchParser.MAX_COST_CENTS)) > 0) {
      throw new ApiException(400, "cost_cents must be an integer from 0 to " + BatchParser.MAX_COST_CENTS
          + " (digits only), got " + Json.encode(text));
    }
    return Long.parseLong(text);
  }

  private void placeHold(RoutingContext ctx) {
    Optional<String> key = IdempotencyKey.of(ctx);
    JsonObject body = AdminApi.jsonBody(ctx, HoldBody.SHAPE);
    HoldRequest request = HoldBody.parse(body);
    String by = AdminApi.adminName(ctx);
    Idempotent.Claim claim = key.map(k -> HoldBody.claim(k, request, by)).orElse(null);
    vertx.executeBlocking(() -> ledger.holds().place(request, enforce, by, claim,
            placed -> new Idempotent.Response(200, placedJson(placed))), false)
        .onSuccess(outcome -> answerHold(ctx, outcome))
        .onFailure(e -> AdminApi.fail(ctx, e));
  }

  /** A placed hold's answer: with {@code low_balance}, as authorize's, true where enforcement would have refused. */
  private String placedJson(HoldOutcome.Placed placed) {
    return JsonViews.hold(placed.hold(), placed.availableCents(), clock.instant())
        .put("low_balance", placed.lowBalance()).encode();
  }

  private String holdJson(Hold hold, long availableCents) {
    return JsonViews.hold(hold, availableCents, clock.instant()).encode();
  }

  private void answerHold(RoutingContext ctx, HoldOutcome outcome) {
    if (outcome instanceof HoldOutcome.Placed placed) {
      AdminApi.send(ctx, 200, placedJson(placed));
    } else if (outcome instanceof HoldOutcome.Refused refused) {
      AdminApi.send(ctx, 402, refusal(refused.decision().refusal()));
    } else if (outcome instanceof HoldOutcome.Conflict conflict) {
      Hold h = conflict.existing();
      AdminApi.error(ctx, 409, "node " + h.node() + " already holds " + h.amountCents() + " cents of user "
          + h.userSid() + " for idempotency_key " + h.idempotencyKey() + " (hold " + h.holdId()
          + "); a key names one record: send a new key for other work");
    } else if (outcome instanceof HoldOutcome.Ended ended) {
      Hold h = ended.existing();
      // A settled hold's record was charged: saying "nothing was held" could make a gateway redo the work.
      AdminApi.error(ctx, 409, "hold " + h.holdId() + " of node " + h.node() + " for idempotency_key "
          + h.idempotencyKey() + (ended.state().equals("settled")
              ? " was settled when its record was consumed (charged once, at the record's cost)"
              : " is " + ended.state()) + " and holds nothing; send a new key to hold credit again");
    } else if (outcome instanceof HoldOutcome.RecordConsumed consumed) {
      AdminApi.error(ctx, 409, "the record " + consumed.idempotencyKey() + " of node " + consumed.node()
          + " was already consumed, so a hold for it would never settle; nothing was held");
    } else if (outcome instanceof HoldOutcome.Replayed replayed) {
      AdminApi.replay(ctx, replayed.response());
    } else if (outcome instanceof HoldOutcome.KeyReused reused) {
      AdminApi.error(ctx, 422, IdempotencyKey.reusedMessage(reused.key()));
    }
  }

  private void releaseHold(RoutingContext ctx) {
    long holdId = holdId(ctx.pathParam("id"));
    String by = AdminApi.adminName(ctx);
    boolean admin = ctx.get(ROLE) == AdminTokens.Role.ADMIN;
    vertx.executeBlocking(() -> {
      // A gateway releases the holds it placed; another's are, to it, no hold at all.
      HoldStore.Released released = release(ledger, holdId, by, h -> admin || h.initiatedBy().equals(by))
          .orElseThrow(() -> new ApiException(404, "no hold " + holdId));
      Hold hold = released.hold();
      if (hold.state() == Hold.State.SETTLED) {
        throw new ApiException(409, "hold " + holdId + " was settled when its record " + hold.idempotencyKey()
            + " of node " + hold.node() + " was consumed; there is nothing to release");
      }
      return holdJson(hold, released.availableCents());
    }, false).onSuccess(json -> AdminApi.send(ctx, 200, json)).onFailure(e -> AdminApi.fail(ctx, e));
  }

  /**
   * Releases a hold as {@code by}, who may release it only if {@code mayRelease} says so: the
   * release of {@code DELETE /v1/holds/{id}} and of the wallet page's Release button. Call on a
   * worker thread.
   *
   * @return empty when there is no such hold, or none that {@code mayRelease} lets {@code by} see
   */
  static Optional<HoldStore.Released> release(Ledger ledger, long holdId, String by, Predicate<Hold> mayRelease) {
    Optional<Hold> placed = ledger.holds().hold(holdId);
    if (placed.isEmpty() || !mayRelease.test(placed.get())) {
      return Optional.empty();
    }
    return ledger.holds().release(holdId, by);
  }

  /** A hold's id as a path or a form gives it. */
  static long holdId(String text) {
    boolean digits = !text.isEmpty() && text.length() <= 19 && text.chars().allMatch(c -> c >= '0' && c <= '9');
    if (!digits || new BigInteger(text).compareTo(BigInteger.valueOf(Long.MAX_VALUE)) > 0) {
      throw new ApiException(400, "a hold's id is a whole number, got " + Json.encode(text));
    }
    return Long.parseLong(text);
  }
}
