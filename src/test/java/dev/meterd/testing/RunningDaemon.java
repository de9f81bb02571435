package dev.meterd.testing;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.admin.AdminTokens;
import dev.meterd.admin.IdempotencyKey;
import dev.meterd.admin.PaymentWebhook;
import dev.meterd.batch.BatchParser;
import dev.meterd.config.ConfigLoader;
import dev.meterd.config.ConfiguredLedger;
import dev.meterd.config.MeterdConfig;
import dev.meterd.daemon.Daemon;
import dev.meterd.notify.WebhookSigner;
import dev.meterd.source.BatchSource;
import dev.meterd.source.git.GitBatchSource;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.json.JsonArray;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpRequest;
import io.vertx.ext.web.client.HttpResponse;
import io.vertx.ext.web.client.WebClient;
import io.vertx.ext.web.client.WebClientOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * The real daemon on a free loopback port over a test repository, and a Vert.x web client to
 * talk to it. Tokens: {@link #ADMIN_TOKEN} (named admin) and {@link #ALICE_TOKEN} (named alice),
 * both admin, and {@link #GATEWAY_TOKEN} (named gateway, role authorize).
 */
public final class RunningDaemon implements AutoCloseable {

  public static final String ADMIN_TOKEN = "admin-token-0123456789";
  public static final String ALICE_TOKEN = "alice-token-0123456789";
  public static final String GATEWAY_TOKEN = "gateway-token-0123456789";
  /** Another gateway's: it may not release the first one's holds. */
  public static final String OTHER_GATEWAY_TOKEN = "other-gateway-token-0123456789";

  /** The configuration's {@code [admin] max_grant_cents}. */
  public static final long MAX_GRANT_CENTS = 10_000;

  private final Daemon daemon;
  private final Path configFile;
  private final Path dbFile;
  private final Vertx vertx = Vertx.vertx();
  /** Fifty connections: a test's concurrent requests (twenty grants, fifty holds) are in flight at once. */
  private final WebClient client = WebClient.create(vertx, new WebClientOptions().setDefaultHost("127.0.0.1")
      .setFollowRedirects(false), new PoolOptions().setHttp1MaxSize(50));

  public RunningDaemon(Path tmp, UsageRepo repo) throws Exception {
    this(tmp, repo, Clock.systemUTC(), "");
  }

  /**
   * The daemon over a test repository, on the given clock, with more keys of {@code [http]}
   * (one {@code key = value} a line, e.g. {@code public_url = "https://meterd.example.org"}).
   */
  public RunningDaemon(Path tmp, UsageRepo repo, Clock clock, String moreHttpConfig) throws Exception {
    this(tmp, repo, clock, moreHttpConfig, "", null);
  }

  /**
   * As {@link #RunningDaemon(Path, UsageRepo, Clock, String)}, with more sections at the end of the
   * configuration (e.g. {@code [notify]}) and the webhook signer (null without a webhook_url).
   */
  public RunningDaemon(Path tmp, UsageRepo repo, Clock clock, String moreHttpConfig, String moreSections,
      WebhookSigner signer) throws Exception {
    this(tmp, GitBatchSource.open(repo.dir().toString(), "main", tmp.resolve("clone"), Optional.empty()), clock,
        moreHttpConfig, moreSections, signer);
  }

  /**
   * As {@link #RunningDaemon(Path, UsageRepo, Clock, String)}, with the secrets of {@code env}
   * (e.g. {@code METERD_PAYMENT_WEBHOOK_SECRET}) as {@code serve} reads them.
   */
  public RunningDaemon(Path tmp, UsageRepo repo, Clock clock, String moreHttpConfig, Map<String, String> env)
      throws Exception {
    this(tmp, GitBatchSource.open(repo.dir().toString(), "main", tmp.resolve("clone"), Optional.empty()), clock,
        moreHttpConfig, env);
  }

  /**
   * As {@link #RunningDaemon(Path, UsageRepo, Clock, String, Map)}, with more sections at the end of
   * the configuration (e.g. {@code [billing]}) instead of more keys of {@code [http]}.
   */
  public RunningDaemon(Path tmp, UsageRepo repo, Clock clock, Map<String, String> env, String moreSections)
      throws Exception {
    this(tmp, GitBatchSource.open(repo.dir().toString(), "main", tmp.resolve("clone"), Optional.empty()), clock,
        "", moreSections, null, env);
  }

  /** The daemon over any source, which it closes. */
  public RunningDaemon(Path tmp, BatchSource source) throws Exception {
    this(tmp, source, Clock.systemUTC(), "", "", null);
  }

  private RunningDaemon(Path tmp, BatchSource source, Clock clock, String moreHttpConfig, Map<String, String> env)
      throws Exception {
    this(tmp, source, clock, moreHttpConfig, "", null, env);
  }

  private RunningDaemon(Path tmp, BatchSource source, Clock clock, String moreHttpConfig, String moreSections,
      WebhookSigner signer) throws Exception {
    this(tmp, source, clock, moreHttpConfig, moreSections, signer, Map.of());
  }

  private RunningDaemon(Path tmp, BatchSource source, Clock clock, String moreHttpConfig, String moreSections,
      WebhookSigner signer, Map<String, String> env) throws Exception {
    this(tmp, source, clock, moreHttpConfig, moreSections, signer, env,
        "path = \"" + tmp.resolve("meterd.db") + "\"");
  }

  /**
   * The daemon over {@code source} (which it closes) with its ledger in the PostgreSQL database
   * {@code db}, whose password it reads from METERD_DB_PASSWORD as {@code serve} does, and more
   * keys of {@code [storage]} (one {@code key = value} a line, e.g. {@code busy_timeout_ms = 2000}).
   */
  public RunningDaemon(Path tmp, BatchSource source, TestPostgres.Database db, String moreStorageConfig)
      throws Exception {
    this(tmp, source, Clock.systemUTC(), "", "", null, Map.of(MeterdConfig.Postgres.PASSWORD_ENV, db.password()),
        "kind = \"postgres\"\nurl = \"" + db.jdbcUrl() + "\"\nuser = \"" + db.user() + "\"\n" + moreStorageConfig);
  }

  private RunningDaemon(Path tmp, BatchSource source, Clock clock, String moreHttpConfig, String moreSections,
      WebhookSigner signer, Map<String, String> env, String storageConfig) throws Exception {
    Path tokens = tmp.resolve("tokens");
    Files.writeString(tokens, "# named tokens\nalice:" + ALICE_TOKEN + "\nauthorize gateway:" + GATEWAY_TOKEN
        + "\nauthorize other-gateway:" + OTHER_GATEWAY_TOKEN + "\n");
    configFile = tmp.resolve("meterd.toml");
    Files.writeString(configFile, """
        [storage]
        %s
        [aggregator]
        interval_seconds = 3600
        [http]
        listen = "127.0.0.1:0"
        %s
        [admin]
        tokens_file = "%s"
        max_grant_cents = %d
        %s
        """.formatted(storageConfig, moreHttpConfig, tokens, MAX_GRANT_CENTS, moreSections));
    MeterdConfig config = ConfigLoader.load(configFile);
    dbFile = config.storage().path();
    daemon = Daemon.start(config, AdminTokens.load(Map.of(AdminTokens.ENV, ADMIN_TOKEN), config.admin().tokensFile()),
        new BatchParser(config.aggregator().limitsWithin(Runtime.getRuntime().maxMemory())),
        source, ConfiguredLedger.open(config, env, clock), ConfiguredLedger.open(config, env, clock), clock,
        PaymentWebhook.secretFrom(env), signer);
  }

  public int port() {
    return daemon.port();
  }

  /** The configuration file the daemon was started with, for a command line beside it. */
  public Path configFile() {
    return configFile;
  }

  /** The daemon's SQLite ledger; null on PostgreSQL. */
  public Path dbFile() {
    return dbFile;
  }

  /** The origin the server sees requests from when no public URL is configured. */
  public String origin() {
    return "http://127.0.0.1:" + daemon.port();
  }

  public static <T> T get(Future<T> future) throws Exception {
    return future.toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
  }

  public HttpRequest<Buffer> request(String method, String path, String token) {
    HttpRequest<Buffer> r = client.request(HttpMethod.valueOf(method), daemon.port(), "127.0.0.1", path);
    return token == null ? r : r.bearerTokenAuthentication(token);
  }

  public HttpResponse<Buffer> call(String method, String path, String token) throws Exception {
    return get(request(method, path, token).send());
  }

  /** An admin request that must answer 200 with JSON. */
  public JsonObject json(String method, String path) throws Exception {
    HttpResponse<Buffer> r = call(method, path, ADMIN_TOKEN);
    assertThat(r.statusCode()).as(method + " " + path + ": " + r.bodyAsString()).isEqualTo(200);
    return r.bodyAsJsonObject();
  }

  /** The balance of an existing wallet. */
  public long balance(String user) throws Exception {
    return json("GET", "/admin/wallets/" + user).getLong("balance_cents");
  }

  /** Grants {@code cents} to a wallet as the admin token, which must answer 200. */
  public void grant(String user, long cents) throws Exception {
    HttpResponse<Buffer> r = get(request("POST", "/admin/wallets/" + user + "/grant", ADMIN_TOKEN)
        .sendJsonObject(new JsonObject().put("amount_cents", cents)));
    assertThat(r.statusCode()).as(r.bodyAsString()).isEqualTo(200);
  }

  /** The transactions a listing ({@code /admin/list-billing}, {@code /admin/list-payments}) answers. */
  public JsonArray transactions(String listPath) throws Exception {
    return json("GET", listPath).getJsonArray("transactions");
  }

  /**
   * A money-moving POST by alice through {@code client} (one with more connections than this
   * daemon's own, for requests in flight at once), with an Idempotency-Key when {@code key} is
   * not null.
   */
  public HttpRequest<Buffer> post(WebClient client, String path, String key) {
    HttpRequest<Buffer> r = client.request(HttpMethod.POST, daemon.port(), "127.0.0.1", path)
        .bearerTokenAuthentication(ALICE_TOKEN);
    return key == null ? r : r.putHeader(IdempotencyKey.HEADER, key);
  }

  /**
   * {@code POST /admin/aggregate-now}, asked again while another run (the one at start) is in
   * progress (409), for up to two minutes: the answer of the first run it got.
   */
  public HttpResponse<Buffer> aggregateNowOnceFree() throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (true) {
      HttpResponse<Buffer> r = call("POST", "/admin/aggregate-now", ADMIN_TOKEN);
      if (r.statusCode() != 409 || System.nanoTime() > deadline) {
        return r;
      }
      Thread.sleep(50);
    }
  }

  /** Waits until the run at start has settled: every node has a state and a new run can start. */
  public void awaitStartRun(int nodes) throws Exception {
    for (int i = 0; i < 200; i++) {
      if (json("GET", "/admin/aggregator-state").getJsonArray("nodes").size() == nodes
          && call("POST", "/admin/aggregate-now", ADMIN_TOKEN).statusCode() == 200) {
        return;
      }
      Thread.sleep(50);
    }
    throw new AssertionError("the run at start did not finish");
  }

  @Override
  public void close() throws Exception {
    try {
      daemon.close();
    } finally {
      client.close();
      get(vertx.close());
    }
  }
}
