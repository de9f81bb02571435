package dev.meterd.admin;

import dev.meterd.engine.RunInProgressException;

import dev.meterd.ledger.HourlyUsage;
import dev.meterd.ledger.Ledger;
import dev.meterd.ledger.LedgerReads;
import dev.meterd.ledger.LedgerTxn;
import dev.meterd.ledger.NodeState;
import dev.meterd.ledger.TxnType;
import dev.meterd.ledger.UnappliedPayment;
import dev.meterd.ledger.Wallet;
import io.pebbletemplates.pebble.PebbleEngine;
import io.pebbletemplates.pebble.loader.ClasspathLoader;
import io.pebbletemplates.pebble.template.PebbleTemplate;
import io.vertx.core.Vertx;
import io.vertx.core.http.Cookie;
import io.vertx.core.http.CookieSameSite;
import io.vertx.core.http.HttpMethod;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import java.io.IOException;
import java.io.InputStream;
import java.io.StringWriter;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Base64;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The admin web pages under {@code /admin/ui/}, rendered on the server with Pebble, which
 * escapes every value for HTML unless told otherwise (nothing here tells it otherwise). A page
 * is reached with the bearer header or the session cookie set by the login form; the cookie is
 * HttpOnly, SameSite=Strict (and Secure when the pages are served over https) and limited to
 * {@code /admin/ui}, so a browser never sends it to the JSON API nor with a request another site
 * started. A client that sends it anyway is held to the same: the cookie counts only on a path
 * that normalizes to a page, and a form post only with the pages' own Origin. Every page carries a
 * Content-Security-Policy that allows no script at all.
 */
final class AdminPages {

  static final String SESSION_COOKIE = "meterd_session";
  /** Where the pages are, and the session cookie's path. */
  static final String PATH = "/admin/ui";
  static final String CSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
      + "frame-ancestors 'none'; base-uri 'none'";
  static final Duration SESSION_TTL = Duration.ofHours(12);
  static final int MAX_SESSIONS = 1_000;
  private static final int CHART_DAYS = 30;
  private static final int CHART_HOURS = 48;

  private record Session(String admin, Instant expiresAt) {}

  private final Vertx vertx;
  private final Ledger ledger;
  private final AdminTokens tokens;
  private final AggregationTrigger trigger;
  /** The origin the pages are served at ([http] public_url), or null for http:// + Host. */
  private final String publicOrigin;
  private final Clock clock;
  private final Money money;
  private final PebbleEngine engine;
  private final Map<String, Session> sessions = new ConcurrentHashMap<>();
  private final SecureRandom random = new SecureRandom();
  private final byte[] stylesheet;

  AdminPages(Vertx vertx, Ledger ledger, AdminTokens tokens, AggregationTrigger trigger, String publicOrigin,
      Clock clock, Money money) {
    this.vertx = vertx;
    this.ledger = ledger;
    this.tokens = tokens;
    this.trigger = trigger;
    this.publicOrigin = publicOrigin;
    this.clock = clock;
    this.money = money;
    this.engine = new PebbleEngine.Builder().loader(templateLoader()).strictVariables(false)
        .extension(new PageFilters(money)).build();
    this.stylesheet = resource("/webroot/admin.css");
  }

  private static ClasspathLoader templateLoader() {
    ClasspathLoader loader = new ClasspathLoader();
    loader.setPrefix("templates");
    loader.setSuffix(".peb");
    return loader;
  }

  private static byte[] resource(String path) {
    try (InputStream in = AdminPages.class.getResourceAsStream(path)) {
      if (in == null) {
        throw new IllegalStateException(path + " is missing from the jar");
      }
      return in.readAllBytes();
    } catch (IOException e) {
      throw new IllegalStateException("cannot read " + path, e);
    }
  }

  /**
   * The pages' referrer policy: no referrer ever leaves for another site. Not {@code no-referrer}:
   * under it a browser sends {@code Origin: null} with the pages' own form posts (Fetch standard,
   * "serializing a request origin"), and {@link #fromOwnOrigin} refuses every one of them.
   */
  static final String REFERRER_POLICY = "same-origin";

  /** Routes that need no login: the form and the stylesheet. Mounted before authentication. */
  void mountPublic(Router router) {
    router.route("/admin/ui/*").handler(ctx -> {
      ctx.response().putHeader("Content-Security-Policy", CSP)
          .putHeader("X-Content-Type-Options", "nosniff")
          .putHeader("Referrer-Policy", REFERRER_POLICY);
      ctx.next();
    });
    router.get("/admin/ui/static/admin.css").handler(ctx -> ctx.response()
        .putHeader("Content-Type", "text/css; charset=utf-8")
        .putHeader("Cache-Control", "max-age=3600")
        .end(io.vertx.core.buffer.Buffer.buffer(stylesheet)));
    router.get("/admin/ui/login").handler(ctx -> render(ctx, 200, "login", Map.of("failed", false)));
    router.post("/admin/ui/login").handler(this::login);
  }

  /** The pages, behind authentication. */
  void mount(Router router) {
    router.get("/admin/ui/").handler(this::overview);
    router.get("/admin/ui/users").handler(this::users);
    router.get("/admin/ui/payments").handler(this::payments);
    router.get("/admin/ui/aggregator").handler(this::aggregator);
    router.post("/admin/ui/aggregator/run").handler(this::runNow);
    router.post("/admin/ui/aggregator/resume").handler(this::resume);
    router.post("/admin/ui/logout").handler(this::logout);
  }

  /** Whether a normalized path is a page's (the session cookie's path), not the JSON API's. */
  static boolean isPage(String normalizedPath) {
    return normalizedPath.equals(PATH) || normalizedPath.startsWith(PATH + "/");
  }

  /**
   * Whether a request with the session cookie comes from the pages themselves: its Origin is
   * theirs. Browsers send Origin with every form post; a GET (a link followed, an address typed)
   * may come without one, but never from another origin.
   */
  boolean fromOwnOrigin(RoutingContext ctx) {
    String origin = ctx.request().getHeader("Origin");
    if (origin == null) {
      return ctx.request().method() == HttpMethod.GET || ctx.request().method() == HttpMethod.HEAD;
    }
    return origin.equals(publicOrigin != null ? publicOrigin : "http://" + ctx.request().getHeader("Host"));
  }

  /** The session cookie is sent back only over TLS when the pages are served over it. */
  private Cookie sessionCookie(String value, long maxAgeSeconds) {
    return Cookie.cookie(SESSION_COOKIE, value).setPath(PATH).setHttpOnly(true).setSameSite(CookieSameSite.STRICT)
        .setSecure(publicOrigin != null && publicOrigin.startsWith("https://")).setMaxAge(maxAgeSeconds);
  }

  /** The admin of a valid session cookie, when the request is for a page. */
  Optional<String> sessionAdmin(RoutingContext ctx) {
    Cookie cookie = ctx.request().getCookie(SESSION_COOKIE);
    if (cookie == null) {
      return Optional.empty();
    }
    Session session = sessions.get(cookie.getValue());
    if (session == null || session.expiresAt().isBefore(clock.instant())) {
      sessions.remove(cookie.getValue());
      return Optional.empty();
    }
    return Optional.of(session.admin());
  }

  private void login(RoutingContext ctx) {
    Optional<String> admin = tokens.authenticate(ctx.request().getFormAttribute("token"));
    if (admin.isEmpty()) {
      render(ctx, 401, "login", Map.of("failed", true));
      return;
    }
    Instant now = clock.instant();
    sessions.values().removeIf(s -> s.expiresAt().isBefore(now));
    if (sessions.size() >= MAX_SESSIONS) {
      AdminApi.error(ctx, 503, "too many open sessions; log out elsewhere or use the bearer header");
      return;
    }
    byte[] id = new byte[32];
    random.nextBytes(id);
    String sessionId = Base64.getUrlEncoder().withoutPadding().encodeToString(id);
    sessions.put(sessionId, new Session(admin.get(), now.plus(SESSION_TTL)));
    ctx.response().addCookie(sessionCookie(sessionId, SESSION_TTL.toSeconds()));
    ctx.response().setStatusCode(303).putHeader("Location", "/admin/ui/").end();
  }

  private void logout(RoutingContext ctx) {
    Cookie cookie = ctx.request().getCookie(SESSION_COOKIE);
    if (cookie != null) {
      sessions.remove(cookie.getValue());
    }
    ctx.response().addCookie(sessionCookie("", 0));
    ctx.response().setStatusCode(303).putHeader("Location", "/admin/ui/login").end();
  }

  private void overview(RoutingContext ctx) {
    page(ctx, "overview", () -> {
      List<Wallet> wallets = ledger.reads().wallets();
      Map<String, NodeState> nodes = ledger.reads().nodes();
      Map<String, Object> model = new HashMap<>();
      model.put("wallets", wallets.size());
      model.put("totalBalance", wallets.stream().mapToLong(Wallet::balanceCents).sum());
      model.put("depleted", wallets.stream().filter(Wallet::depleted).count());
      model.put("records", nodes.values().stream().mapToLong(NodeState::recordsConsumedTotal).sum());
      model.put("nodes", nodes.size());
      model.put("halted", nodes.values().stream().filter(NodeState::halted).count());
      model.put("lastRun", trigger.lastRun().map(r -> r.startedAt().truncatedTo(ChronoUnit.SECONDS)
          + ": " + count(r.recordsConsumed(), "record") + ", " + count(r.halted().size(), "node") + " halted")
          .orElse(null));
      charts(model);
      return model;
    });
  }

  /**
   * The overview's two usage charts: the last {@value #CHART_DAYS} days to today, and the last
   * {@value #CHART_HOURS} hours to the current one.
   */
  private void charts(Map<String, Object> model) {
    Instant now = clock.instant();
    LocalDate today = LocalDate.ofInstant(now, ZoneOffset.UTC);
    Map<LocalDate, UsageChart.Usage> days = new HashMap<>();
    for (LedgerReads.UsageBucket b : ledger.reads().usage(LedgerReads.Bucket.DAY, today.minusDays(CHART_DAYS - 1),
        today.plusDays(1))) {
      days.put(b.start(), new UsageChart.Usage(b.chargedCents(), b.waivedCents(), b.records()));
    }
    model.put("byDay", UsageChart.byDay(today, CHART_DAYS, days, money));
    Instant hour = now.truncatedTo(ChronoUnit.HOURS);
    Map<Instant, UsageChart.Usage> hours = new HashMap<>();
    for (HourlyUsage h : ledger.reads().usageByHour(hour.minus(Duration.ofHours(CHART_HOURS - 1)),
        hour.plus(Duration.ofHours(1)))) {
      hours.put(h.hour(), new UsageChart.Usage(h.chargedCents(), h.waivedCents(), h.records()));
    }
    model.put("byHour", UsageChart.byHour(hour, CHART_HOURS, hours, money));
  }

  private void users(RoutingContext ctx) {
    String q = ctx.request().getParam("q", "");
    page(ctx, "users", () -> {
      String needle = q.toLowerCase(Locale.ROOT);
      List<Wallet> wallets = ledger.reads().wallets().stream()
          .filter(w -> needle.isEmpty() || w.userSid().toLowerCase(Locale.ROOT).contains(needle)).toList();
      return Map.of("wallets", wallets, "q", q);
    });
  }

  private void payments(RoutingContext ctx) {
    String cursorText = ctx.request().getParam("cursor");
    Long cursor = cursorText == null ? null : AdminApi.longParam("cursor", cursorText);
    page(ctx, "payments", () -> {
      List<LedgerTxn> page = ledger.reads().transactionPage(EnumSet.of(TxnType.GRANT, TxnType.TOPUP, TxnType.REFUND),
          cursor, AdminApi.DEFAULT_PAGE);
      Map<String, Object> model = new HashMap<>();
      model.put("transactions", page);
      model.put("next", page.size() == AdminApi.DEFAULT_PAGE ? page.get(page.size() - 1).txnId() : null);
      // Money received but not credited heads the first page: it waits for an admin.
      List<UnappliedPayment> unapplied = cursor == null ? ledger.unappliedPayments().newestFirst(AdminApi.MAX_PAGE)
          : List.of();
      model.put("unapplied", unapplied);
      model.put("unappliedLimited", unapplied.size() == AdminApi.MAX_PAGE);
      model.put("currency", money.currencyCode());
      return model;
    });
  }

  private void aggregator(RoutingContext ctx) {
    String message = ctx.request().getParam("message");
    page(ctx, "aggregator", () -> {
      List<Map<String, Object>> rows = new ArrayList<>();
      Map<String, String> holders = new HashMap<>();
      for (dev.meterd.ledger.NodeLeases.Lease lease : ledger.leases().leases()) {
        if (lease.live()) {
          holders.put(lease.node(), lease.holder());
        }
      }
      for (NodeState n : ledger.reads().nodes().values()) {
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("node", n.node());
        row.put("status", n.status().name().toLowerCase(Locale.ROOT));
        row.put("lastCommitSha", n.lastCommitSha());
        row.put("lastRunAt", n.lastRunAt());
        row.put("records", n.recordsConsumedTotal());
        row.put("error", n.error() == null ? null : (n.error().file() == null ? "" : n.error().file()
            + (n.error().line() == null ? "" : ":" + n.error().line()) + ": ") + n.error().message());
        row.put("haltedSince", n.haltedSince());
        row.put("warning", n.warning());
        row.put("heldBy", holders.get(n.node()));
        rows.add(row);
      }
      Map<String, Object> model = new HashMap<>();
      model.put("nodes", rows);
      // Several daemons share the store: which one holds each node, and which one this page is.
      model.put("shared", ledger.leases().shared());
      model.put("daemon", ledger.leases().holder());
      model.put("message", message);
      return model;
    });
  }

  /** "1 record", "2 records". */
  static String count(long n, String noun) {
    return n + " " + noun + (n == 1 ? "" : "s");
  }

  private void runNow(RoutingContext ctx) {
    trigger.runNow().onComplete(ar -> {
      String message = ar.succeeded()
          ? "Run " + ar.result().runId() + ": " + count(ar.result().recordsConsumed(), "record") + " consumed, "
              + count(ar.result().halted().size(), "node") + " halted."
          : ar.cause() instanceof RunInProgressException ? "A run is already in progress."
              : "The run failed: " + ar.cause().getMessage();
      ctx.redirect("/admin/ui/aggregator?message=" + java.net.URLEncoder.encode(message,
          java.nio.charset.StandardCharsets.UTF_8));
    });
  }

  private void resume(RoutingContext ctx) {
    String node = ctx.request().getFormAttribute("node");
    String admin = AdminApi.adminName(ctx);
    vertx.executeBlocking(() -> node == null ? Optional.<NodeState>empty() : ledger.nodeStore().resume(node), false)
        .onComplete(ar -> {
          // A failure (the database busy past its timeout) is said as such, never as "no node".
          String message = ar.failed() ? "Node " + node + " was not resumed: " + ar.cause().getMessage()
              : ar.result().isPresent() ? "Node " + node + " resumed by " + admin + "; the next run retries it."
              : "No node named " + node + ".";
          ctx.redirect("/admin/ui/aggregator?message=" + java.net.URLEncoder.encode(message,
              java.nio.charset.StandardCharsets.UTF_8));
        });
  }

  /**
   * Answers a form's post with a redirect to a page that shows {@code message} as its notice (Post,
   * Redirect, Get: reloading the page then does not post again).
   */
  static void seeOther(RoutingContext ctx, String path, String message) {
    ctx.response().setStatusCode(303).putHeader("Location", path + "?message="
        + java.net.URLEncoder.encode(message, java.nio.charset.StandardCharsets.UTF_8)).end();
  }

  // ---- rendering

  void page(RoutingContext ctx, String name, Callable<Map<String, Object>> model) {
    vertx.executeBlocking(() -> {
      Map<String, Object> values = new HashMap<>(model.call());
      values.put("page", name);
      values.put("admin", AdminApi.adminName(ctx));
      return renderToString(name, values);
    }, false).onSuccess(html -> html(ctx, 200, html)).onFailure(e -> {
      if (e instanceof ApiException api) {
        AdminApi.error(ctx, api.status, api.getMessage());
      } else {
        ctx.fail(500, e);
      }
    });
  }

  private void render(RoutingContext ctx, int status, String name, Map<String, Object> model) {
    Map<String, Object> values = new HashMap<>(model);
    values.put("page", name);
    values.put("admin", null);
    html(ctx, status, renderToString(name, values));
  }

  private String renderToString(String name, Map<String, Object> model) {
    PebbleTemplate template = engine.getTemplate(name);
    StringWriter out = new StringWriter();
    try {
      template.evaluate(out, model);
    } catch (IOException e) {
      throw new IllegalStateException("cannot render the page " + name, e);
    }
    return out.toString();
  }

  private static void html(RoutingContext ctx, int status, String html) {
    ctx.response().setStatusCode(status).putHeader("Content-Type", "text/html; charset=utf-8")
        .putHeader("Cache-Control", "no-store").end(html);
  }
}
