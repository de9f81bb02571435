package dev.meterd.admin;

import dev.meterd.config.MeterdConfig;
import dev.meterd.engine.RunInProgressException;

import dev.meterd.ledger.Idempotent;
import dev.meterd.ledger.Ledger;
import dev.meterd.ledger.LedgerReads;
import dev.meterd.ledger.LedgerTxn;
import dev.meterd.ledger.PaymentConflictException;
import dev.meterd.ledger.PaymentStore;
import dev.meterd.ledger.TxnType;
import dev.meterd.ledger.TopupDue;
import dev.meterd.ledger.Wallet;
import dev.meterd.policy.WalletSettings;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import java.time.LocalDate;
import java.time.YearMonth;
import java.time.format.DateTimeParseException;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The admin HTTP API, the gateways' {@code /v1/...} ({@link GatewayApi}), {@code /health} and
 * {@code /metrics}. Every ledger call is blocking (JDBC) and runs on a worker thread, never on the
 * event loop. Errors are JSON {@code {"error":...}}; a 500 never carries a stack trace.
 */
public final class AdminApi {

  private static final Logger log = LoggerFactory.getLogger(AdminApi.class);

  static final int MAX_BODY_BYTES = 64 * 1024;
  static final int DEFAULT_PAGE = 50;
  static final int MAX_PAGE = 500;
  static final String ADMIN_NAME = "meterd.admin";
  static final String ROLE_REFUSED = "this token's role is authorize, which may call only /v1/...; use an admin token";
  private static final Set<TxnType> PAYMENTS = EnumSet.of(TxnType.GRANT, TxnType.TOPUP, TxnType.REFUND);

  private final Vertx vertx;
  private final Ledger ledger;
  private final AdminTokens tokens;
  private final AggregationTrigger trigger;
  private final Supplier<String> metrics;
  private final long maxGrantCents;
  private final AdminPages pages;
  private final GatewayApi gateway;
  private final java.time.Clock clock;
  /** Empty when {@value PaymentWebhook#SECRET_ENV} is not set: then its route is not served. */
  private final Optional<PaymentWebhook> paymentWebhook;
  private final WebhookDeliveries webhooks;
  private final WalletPage walletPage;

  /**
   * @param publicOrigin the origin the pages are served at ({@code [http] public_url}), or null
   *     for the request's own {@code http://} + Host
   * @param paymentWebhookSecret the payment provider's signing secret (see
   *     {@link PaymentWebhook#secretFrom}), or empty to serve no payment webhook
   * @param webhookTarget where webhook events are delivered (scheme, host, port), or null when no
   *     {@code [notify] webhook_url} is set
   * @param credit {@code [billing] currency}, the currency of the ledger's cents, the alert
   *     thresholds the pages mark, and {@code [enforcement] enabled}: authorize and holds refuse,
   *     not only flag
   */
  public AdminApi(Vertx vertx, Ledger ledger, AdminTokens tokens, AggregationTrigger trigger,
      Supplier<String> metrics, long maxGrantCents, String publicOrigin, java.time.Clock clock,
      Optional<String> paymentWebhookSecret, String webhookTarget, MeterdConfig.Credit credit) {
    Money money = new Money(credit.currency());
    this.pages = new AdminPages(vertx, ledger, tokens, trigger, publicOrigin, clock, money);
    this.walletPage = new WalletPage(vertx, ledger, pages, money, clock, maxGrantCents, credit.alertThresholdsPct());
    this.paymentWebhook = paymentWebhookSecret.map(secret -> new PaymentWebhook(vertx, ledger, secret, clock,
        credit.currency()));
    this.webhooks = new WebhookDeliveries(vertx, ledger, pages, webhookTarget);
    this.gateway = new GatewayApi(vertx, ledger, tokens, credit.enforcement(), clock);
    this.vertx = vertx;
    this.ledger = ledger;
    this.tokens = tokens;
    this.trigger = trigger;
    this.metrics = metrics;
    this.maxGrantCents = maxGrantCents;
    this.clock = clock;
  }

  public Router router() {
    Router router = Router.router(vertx);
    router.route().handler(BodyHandler.create(false).setBodyLimit(MAX_BODY_BYTES));
    router.route().failureHandler(ctx -> {
      if (ctx.failure() instanceof ApiException api) {
        error(ctx, api.status, api.getMessage());
      } else {
        ctx.next();
      }
    });
    router.get("/health").handler(ctx -> json(ctx, 200, new JsonObject().put("status", "ok")));
    router.get("/metrics").handler(this::metrics);
    // Not under /admin/: the provider's signature is its authentication, not a token.
    paymentWebhook.ifPresentOrElse(webhook -> router.post(PaymentWebhook.PATH).handler(webhook::handle),
        () -> log.info("payment webhook off: set {} to the provider's signing secret to serve POST {}",
            PaymentWebhook.SECRET_ENV, PaymentWebhook.PATH));
    pages.mountPublic(router);
    gateway.mount(router);
    router.route("/admin/*").handler(this::authenticate);
    pages.mount(router);
    walletPage.mount(router);
    new CreditPages(ledger, pages).mount(router);
    router.post("/admin/aggregate-now").handler(this::aggregateNow);
    router.get("/admin/aggregator-state").handler(this::aggregatorState);
    router.get("/admin/list-users").handler(this::listUsers);
    router.get("/admin/list-billing").handler(ctx -> listTransactions(ctx, EnumSet.allOf(TxnType.class)));
    router.get("/admin/list-payments").handler(ctx -> listTransactions(ctx, PAYMENTS));
    router.get("/admin/wallets/:user").handler(this::wallet);
    router.patch("/admin/wallets/:user").handler(this::updateSettings);
    router.post("/admin/wallets/:user/grant").handler(this::grant);
    router.get("/admin/alerts").handler(this::alerts);
    router.get("/admin/topups/due").handler(this::topupsDue);
    router.post("/admin/wallets/:user/topup").handler(ctx -> payment(ctx, TxnType.TOPUP));
    router.post("/admin/wallets/:user/refund").handler(ctx -> payment(ctx, TxnType.REFUND));
    router.get("/admin/payments/unapplied").handler(this::unappliedPayments);
    router.get("/admin/usage/summary").handler(this::usageSummary);
    webhooks.mount(router);
    router.route().last().handler(ctx -> error(ctx, 404, "no such endpoint: " + ctx.request().method() + " "
        + ctx.request().path()));
    router.errorHandler(413, ctx -> error(ctx, 413, "request body over " + MAX_BODY_BYTES + " bytes"));
    router.errorHandler(405, ctx -> error(ctx, 405, "method not allowed"));
    router.errorHandler(500, ctx -> {
      log.error("request {} {} failed", ctx.request().method(), ctx.request().path(), ctx.failure());
      error(ctx, 500, "internal error; the server log has the details");
    });
    return router;
  }

  /** The token's name, set by {@link #authenticate}: the {@code initiated_by} of what the request does. */
  static String adminName(RoutingContext ctx) {
    return ctx.get(ADMIN_NAME);
  }

  /**
   * The bearer token opens everything under {@code /admin/}; the pages' session cookie opens the
   * pages only, told apart by the path the router routes on (normalized: {@code /admin/ui/../x}
   * is {@code /admin/x}, and is the API).
   */
  private void authenticate(RoutingContext ctx) {
    Optional<AdminTokens.Principal> principal = tokens.principal(bearerToken(ctx));
    if (principal.isPresent() && principal.get().role() != AdminTokens.Role.ADMIN) {
      // The token is good, its role is not: 403 (401 would tell the client to fix its credentials).
      error(ctx, 403, ROLE_REFUSED);
      return;
    }
    Optional<String> name = principal.map(AdminTokens.Principal::name);
    if (name.isEmpty() && AdminPages.isPage(ctx.normalizedPath())) {
      name = pages.sessionAdmin(ctx);
      if (name.isEmpty()) {
        ctx.response().setStatusCode(303).putHeader("Location", "/admin/ui/login").end();
        return;
      }
      if (!pages.fromOwnOrigin(ctx)) {
        // The cookie is SameSite=Strict already; the Origin check holds even where that is not honoured.
        error(ctx, 403, "cross-origin request refused: a form post must come from the admin pages' own origin");
        return;
      }
    }
    if (name.isEmpty()) {
      error(ctx, 401, "unauthorized");
      return;
    }
    ctx.put(ADMIN_NAME, name.get());
    ctx.next();
  }

  /** The bearer token of a request's Authorization header, or null. */
  static String bearerToken(RoutingContext ctx) {
    String header = ctx.request().getHeader("Authorization");
    return header != null && header.regionMatches(true, 0, "Bearer ", 0, 7) ? header.substring(7).strip() : null;
  }

  private void metrics(RoutingContext ctx) {
    ctx.response().putHeader("Content-Type", "text/plain; version=0.0.4; charset=utf-8").end(metrics.get());
  }

  private void aggregateNow(RoutingContext ctx) {
    log.info("aggregation requested by {}", adminName(ctx));
    trigger.runNow()
        .onSuccess(summary -> json(ctx, 200, JsonViews.summary(summary)))
        .onFailure(e -> fail(ctx, e));
  }

  private void aggregatorState(RoutingContext ctx) {
    blocking(ctx, () -> JsonViews.nodes(ledger.reads().nodes().values(), ledger.leases()));
  }

  private void listUsers(RoutingContext ctx) {
    String q = ctx.request().getParam("q");
    blocking(ctx, () -> {
      List<Wallet> wallets = ledger.reads().wallets();
      if (q != null && !q.isEmpty()) {
        String needle = q.toLowerCase(Locale.ROOT);
        wallets = wallets.stream().filter(w -> w.userSid().toLowerCase(Locale.ROOT).contains(needle)).toList();
      }
      return JsonViews.wallets(wallets);
    });
  }

  private void listTransactions(RoutingContext ctx, Set<TxnType> types) {
    int limit = intParam(ctx, "limit", DEFAULT_PAGE, 1, MAX_PAGE);
    String cursorText = ctx.request().getParam("cursor");
    Long cursor = cursorText == null ? null : longParam("cursor", cursorText);
    blocking(ctx, () -> {
      List<LedgerTxn> page = ledger.reads().transactionPage(types, cursor, limit);
      JsonArray array = new JsonArray();
      page.forEach(t -> array.add(JsonViews.transaction(t)));
      String next = page.size() == limit ? Long.toString(page.get(page.size() - 1).txnId()) : null;
      return new JsonObject().put("transactions", array).put("next_cursor", next);
    });
  }

  private void wallet(RoutingContext ctx) {
    String user = ctx.pathParam("user");
    int limit = intParam(ctx, "limit", DEFAULT_PAGE, 1, MAX_PAGE);
    blocking(ctx, () -> {
      Wallet wallet = ledger.reads().wallet(user).orElseThrow(() -> new ApiException(404, "no wallet for user " + user));
      return JsonViews.walletShown(ledger.reads(), wallet, limit, clock.instant());
    });
  }

  private void updateSettings(RoutingContext ctx) {
    WalletSettings.Patch patch = SettingsRequest.fromJson(jsonBody(ctx, SettingsRequest.BODY_SHAPE));
    String user = ctx.pathParam("user");
    if (user.isEmpty() || user.codePointCount(0, user.length()) > 200) {
      throw new ApiException(400, "the user must be 1 to 200 characters");
    }
    String by = adminName(ctx);
    blocking(ctx, () -> {
      Wallet wallet = ledger.walletStore().updateSettings(user, patch, by);
      log.info("wallet settings of {} changed by {}", user, by);
      return JsonViews.walletShown(ledger.reads(), wallet, DEFAULT_PAGE, clock.instant());
    });
  }

  private void alerts(RoutingContext ctx) {
    String cycleText = ctx.request().getParam("cycle");
    YearMonth cycle;
    try {
      cycle = cycleText == null ? null : YearMonth.parse(cycleText);
    } catch (DateTimeParseException e) {
      throw new ApiException(400, "cycle must be a month YYYY-MM, got " + cycleText);
    }
    String user = ctx.request().getParam("user");
    int limit = intParam(ctx, "limit", DEFAULT_PAGE, 1, MAX_PAGE);
    blocking(ctx, () -> new JsonObject().put("alerts", JsonViews.alerts(ledger.reads().alerts(cycle, user, limit))));
  }

  private void topupsDue(RoutingContext ctx) {
    blocking(ctx, () -> {
      JsonArray wallets = new JsonArray();
      for (TopupDue due : ledger.reads().topupsDue()) {
        wallets.add(new JsonObject().put("user_sid", due.userSid()).put("balance_cents", due.balanceCents())
            .put("threshold_cents", due.thresholdCents()).put("amount_cents", due.amountCents())
            .put("requested_at", due.requestedAt() == null ? null : due.requestedAt().toString()));
      }
      return new JsonObject().put("wallets", wallets);
    });
  }

  private void grant(RoutingContext ctx) {
    Optional<String> key = IdempotencyKey.of(ctx);
    GrantRequest grant = GrantRequest.fromJson(ctx.pathParam("user"), jsonBody(ctx, GrantRequest.BODY_SHAPE),
        maxGrantCents);
    String by = adminName(ctx);
    if (key.isEmpty()) {
      blocking(ctx, () -> JsonViews.transaction(ledger.walletStore().credit(grant.userSid(), TxnType.GRANT, grant.amountCents(), by,
          grant.note())));
      return;
    }
    idempotent(ctx, () -> grant.creditOnce(ledger, key.get(), by));
  }

  /**
   * A top-up or refund: credited once per payment id. The same payment again answers its
   * transaction, marked as a replay; under an Idempotency-Key too, it is answered as a grant is.
   */
  private void payment(RoutingContext ctx, TxnType type) {
    Optional<String> key = IdempotencyKey.of(ctx);
    PaymentRequest payment = PaymentRequest.fromJson(ctx.pathParam("user"), type,
        jsonBody(ctx, PaymentRequest.BODY_SHAPE), maxGrantCents);
    String by = adminName(ctx);
    if (key.isPresent()) {
      idempotent(ctx, () -> payment.recordOnce(ledger, key.get(), by));
      return;
    }
    vertx.executeBlocking(() -> ledger.payments().record(payment.payment(by)), false).onSuccess(outcome -> {
      if (outcome instanceof PaymentStore.Outcome.AlreadyCredited) {
        ctx.response().putHeader(IdempotencyKey.REPLAYED_HEADER, "true");
      }
      json(ctx, 200, JsonViews.transaction(outcome.txn()));
    }).onFailure(e -> fail(ctx, e));
  }

  /** The payments received but not credited, newest first: {@code {"payments":[...]}}. */
  private void unappliedPayments(RoutingContext ctx) {
    int limit = intParam(ctx, "limit", DEFAULT_PAGE, 1, MAX_PAGE);
    blocking(ctx, () -> {
      JsonArray payments = new JsonArray();
      ledger.unappliedPayments().newestFirst(limit).forEach(p -> payments.add(JsonViews.unappliedPayment(p)));
      return new JsonObject().put("payments", payments);
    });
  }

  /**
   * Answers a money-moving write made under an Idempotency-Key: what it answered, now or the first
   * time, or 422. What was applied before, under this key or another (a payment id sent again), is
   * marked as a replay.
   */
  private void idempotent(RoutingContext ctx, Callable<Idempotent> write) {
    vertx.executeBlocking(write, false).onSuccess(outcome -> {
      if (outcome instanceof Idempotent.Applied applied) {
        respond(ctx, applied.response());
      } else if (outcome instanceof Idempotent.AppliedBefore before) {
        replay(ctx, before.response());
      } else if (outcome instanceof Idempotent.Replayed replayed) {
        replay(ctx, replayed.response());
      } else if (outcome instanceof Idempotent.KeyReused reused) {
        error(ctx, 422, IdempotencyKey.reusedMessage(reused.key()));
      }
    }).onFailure(e -> fail(ctx, e));
  }

  static void respond(RoutingContext ctx, Idempotent.Response response) {
    send(ctx, response.status(), response.body());
  }

  /** Answers what was answered before, marked {@code Idempotent-Replayed: true}. */
  static void replay(RoutingContext ctx, Idempotent.Response response) {
    ctx.response().putHeader(IdempotencyKey.REPLAYED_HEADER, "true");
    respond(ctx, response);
  }

  private void usageSummary(RoutingContext ctx) {
    String bucketText = ctx.request().getParam("bucket", "day");
    LedgerReads.Bucket bucket;
    try {
      bucket = LedgerReads.Bucket.valueOf(bucketText.toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      error(ctx, 400, "bucket must be day, week or month, got " + bucketText);
      return;
    }
    LocalDate from = dateParam(ctx, "from");
    LocalDate to = dateParam(ctx, "to");
    blocking(ctx, () -> {
      JsonArray buckets = new JsonArray();
      for (LedgerReads.UsageBucket b : ledger.reads().usage(bucket, from, to)) {
        buckets.add(new JsonObject().put("start", b.start().toString()).put("records", b.records())
            .put("cost_cents", b.costCents()).put("charged_cents", b.chargedCents())
            .put("waived_cents", b.waivedCents()));
      }
      return new JsonObject().put("bucket", bucket.name().toLowerCase(Locale.ROOT)).put("buckets", buckets);
    });
  }

  // ---- plumbing

  private void blocking(RoutingContext ctx, Callable<JsonObject> work) {
    blocking(vertx, ctx, work);
  }

  /** Runs {@code work} on a worker thread and answers 200 with its JSON, or the error it failed with. */
  static void blocking(Vertx vertx, RoutingContext ctx, Callable<JsonObject> work) {
    Future<JsonObject> result = vertx.executeBlocking(work, false);
    result.onSuccess(json -> json(ctx, 200, json)).onFailure(e -> fail(ctx, e));
  }

  /**
   * The request's body as a JSON object naming each member once.
   *
   * @param shape the message for a body that is not a JSON object
   * @throws ApiException 400
   */
  static JsonObject jsonBody(RoutingContext ctx, String shape) {
    JsonObject body;
    try {
      String duplicate = duplicateMember(ctx.body().buffer());
      if (duplicate != null) {
        throw new ApiException(400, "the body names \"" + duplicate + "\" more than once; send each member once");
      }
      body = ctx.body().asJsonObject();
    } catch (DecodeException | ClassCastException e) {
      throw new ApiException(400, shape);
    }
    // An empty body, or the JSON null, is no object either: never null for the caller to forget.
    if (body == null) {
      throw new ApiException(400, shape);
    }
    return body;
  }

  private static final com.fasterxml.jackson.core.JsonFactory STRICT_JSON = com.fasterxml.jackson.core.JsonFactory
      .builder().enable(com.fasterxml.jackson.core.StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();

  /**
   * The first member a JSON body names twice at one level, or null. Such a body is refused: which
   * value counts would depend on who reads it (a proxy or a log may take the first, we the last).
   * Malformed JSON is left to the decoder, whose error is the body's shape.
   */
  static String duplicateMember(io.vertx.core.buffer.Buffer body) {
    if (body == null || body.length() == 0) {
      return null;
    }
    try (com.fasterxml.jackson.core.JsonParser parser = STRICT_JSON.createParser(body.getBytes())) {
      while (parser.nextToken() != null) {
        // Every token is read: the duplicate check is made as each member's name is read.
      }
      return null;
    } catch (com.fasterxml.jackson.core.exc.StreamReadException e) {
      return e.getMessage() != null && e.getMessage().startsWith("Duplicate field '")
          ? e.getMessage().substring("Duplicate field '".length(), e.getMessage().indexOf('\'', 17)) : null;
    } catch (java.io.IOException e) {
      return null;
    }
  }

  static void fail(RoutingContext ctx, Throwable e) {
    if (e instanceof ApiException api) {
      error(ctx, api.status, api.getMessage());
    } else if (e instanceof RunInProgressException || e instanceof PaymentConflictException) {
      error(ctx, 409, e.getMessage());
    } else if (e instanceof dev.meterd.ledger.BalanceOutOfRangeException) {
      // An amount the wallet cannot take is the request's fault, and retrying it cannot help.
      error(ctx, 400, e.getMessage());
    } else if (e instanceof RunUnavailableException || e instanceof dev.meterd.ledger.LedgerException) {
      // The source or the database is unavailable: nothing was applied; the message names what.
      error(ctx, 503, e.getMessage());
    } else {
      ctx.fail(500, e);
    }
  }

  static void json(RoutingContext ctx, int status, JsonObject body) {
    send(ctx, status, body.encode());
  }

  static void send(RoutingContext ctx, int status, String json) {
    if (!ctx.response().ended()) {
      ctx.response().setStatusCode(status).putHeader("Content-Type", "application/json").end(json);
    }
  }

  static void error(RoutingContext ctx, int status, String message) {
    json(ctx, status, new JsonObject().put("error", message));
  }

  static int intParam(RoutingContext ctx, String name, int fallback, int min, int max) {
    String text = ctx.request().getParam(name);
    if (text == null) {
      return fallback;
    }
    long value = longParam(name, text);
    if (value < min || value > max) {
      throw new ApiException(400, name + " must be " + min + " to " + max + ", got " + value);
    }
    return (int) value;
  }

  static long longParam(String name, String text) {
    try {
      return Long.parseLong(text);
    } catch (NumberFormatException e) {
      throw new ApiException(400, name + " must be a whole number");
    }
  }

  private static LocalDate dateParam(RoutingContext ctx, String name) {
    String text = ctx.request().getParam(name);
    if (text == null) {
      return null;
    }
    try {
      return LocalDate.parse(text);
    } catch (DateTimeParseException e) {
      throw new ApiException(400, name + " must be a date YYYY-MM-DD");
    }
  }
}
