package dev.meterd.daemon;

import dev.meterd.admin.AdminApi;
import dev.meterd.admin.AdminTokens;
import dev.meterd.batch.BatchParser;
import dev.meterd.config.MeterdConfig;
import dev.meterd.engine.Aggregator;
import dev.meterd.engine.FaultInjector;
import dev.meterd.ledger.Ledger;
import dev.meterd.notify.WebhookSigner;
import dev.meterd.notify.WebhookWorker;
import dev.meterd.source.BatchSource;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.time.Clock;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The running daemon: aggregation on a timer and on demand, the HTTP server, and the webhook
 * worker when {@code [notify] webhook_url} is set.
 *
 * <p>The aggregator and the HTTP handlers each have their own ledger (their own SQLite
 * connection): a node's transaction in progress on one is never seen, or joined, by a request
 * on the other; the write lock serializes them. The webhook worker shares the HTTP handlers'
 * ledger: its reads and writes are as short as theirs, and it posts on its own thread.
 */
public final class Daemon implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(Daemon.class);
  private static final long START_TIMEOUT_SECONDS = 30;

  private final Vertx vertx;
  private final AggregationService service;
  private final HttpVerticle http;
  private final WebhookWorker webhooks;
  private final AutoCloseable[] resources;

  private Daemon(Vertx vertx, AggregationService service, HttpVerticle http, WebhookWorker webhooks,
      AutoCloseable... resources) {
    this.vertx = vertx;
    this.service = service;
    this.http = http;
    this.webhooks = webhooks;
    this.resources = resources;
  }

  /**
   * Starts the daemon; the caller hands over the source and both ledgers, which the daemon
   * closes.
   *
   * @param paymentWebhookSecret the payment provider's signing secret, or empty to serve no
   *     payment webhook
   * @param webhookSigner signs webhook events; null only when {@code [notify] webhook_url} is unset
   */
  public static Daemon start(MeterdConfig config, AdminTokens tokens, BatchParser parser, BatchSource source,
      Ledger runLedger, Ledger apiLedger, Clock clock, Optional<String> paymentWebhookSecret,
      WebhookSigner webhookSigner) throws Exception {
    if (tokens.isEmpty()) {
      throw new IllegalStateException("no admin token configured");
    }
    if (config.webhooks().webhookUrl() != null && webhookSigner == null) {
      throw new IllegalStateException("[notify] webhook_url is set but no signing secret was given");
    }
    WebhookWorker webhooks = WebhookWorker.create(config.webhooks(), webhookSigner, apiLedger.outbox(), clock)
        .orElse(null);
    Vertx vertx = Vertx.vertx();
    try {
      // Off unless a crash test starts the jar with -Dmeterd.fault, as for aggregate --once.
      Aggregator aggregator = new Aggregator(source, runLedger, parser, clock, FaultInjector.fromSystemProperty(),
          config.aggregator().groups());
      Metrics metrics = new Metrics(clock, apiLedger.reads().newestOccurredAt());
      if (runLedger.leases().shared()) {
        metrics.watchLeases(runLedger.leases(), apiLedger.leases());
        log.info("sharing the nodes with the other daemons of this database as {} (leases of {} s)",
            runLedger.leases().holder(), runLedger.leases().term().toSeconds());
      }
      AggregationService service = new AggregationService(vertx, aggregator, metrics);
      String listen = config.http().listen();
      int colon = listen.lastIndexOf(':');
      String host = listen.substring(0, colon).replace("[", "").replace("]", "");
      int port = Integer.parseInt(listen.substring(colon + 1));
      String webhookTarget = webhooks == null ? null : webhooks.target();
      HttpVerticle http = new HttpVerticle(host, port, v -> new AdminApi(v, apiLedger, tokens, service,
          metrics::scrape, config.admin().maxGrantCents(), config.http().publicOrigin(), clock, paymentWebhookSecret,
          webhookTarget, config.credit())
          .router());
      await(vertx.deployVerticle(http));
      await(vertx.deployVerticle(new AggregationVerticle(service, config.aggregator().interval()),
          new DeploymentOptions()));
      log.info("meterd serving on http://{}:{} (aggregation every {} s, credit enforcement {})", host,
          http.actualPort(), config.aggregator().interval().toSeconds(), config.credit().enforcement() ? "on" : "off");
      if (webhooks != null) {
        webhooks.start();
        log.info("webhook events go to {} (retried for up to {} s)", webhooks.target(),
            config.webhooks().giveUpAfter().toSeconds());
      } else {
        log.info("no [notify] webhook_url: webhook events are recorded and wait in the outbox");
      }
      return new Daemon(vertx, service, http, webhooks, source, runLedger, apiLedger);
    } catch (Exception e) {
      await(vertx.close());
      throw e;
    }
  }

  public int port() {
    return http.actualPort();
  }

  /**
   * Stops the webhook worker (its attempt in flight may finish), lets the node transaction in
   * flight finish, stops the HTTP server, and closes everything.
   */
  @Override
  public void close() throws Exception {
    log.info("meterd stopping: finishing the node in flight");
    try {
      if (webhooks != null) {
        webhooks.close();
      }
      await(service.shutdown());
      await(vertx.close());
      releaseLeases();
    } finally {
      for (AutoCloseable r : resources) {
        r.close();
      }
    }
    log.info("meterd stopped");
  }

  /** A clean stop gives back this daemon's leases at once: the others need not wait for them to lapse. */
  private void releaseLeases() {
    for (AutoCloseable r : resources) {
      if (r instanceof Ledger ledger && ledger.leases().shared()) {
        try {
          int given = ledger.leases().releaseAll();
          if (given > 0) {
            log.info("gave back the leases of {} nodes", given);
          }
        } catch (dev.meterd.ledger.LedgerException e) {
          log.warn("the leases could not be given back ({}); they lapse in {} s", e.getMessage(),
              ledger.leases().term().toSeconds());
        }
        return;
      }
    }
  }

  private static <T> T await(Future<T> future) throws Exception {
    try {
      return future.toCompletionStage().toCompletableFuture().get(START_TIMEOUT_SECONDS * 20, TimeUnit.SECONDS);
    } catch (java.util.concurrent.ExecutionException e) {
      if (e.getCause() instanceof Exception cause) {
        throw cause;
      }
      throw e;
    }
  }
}
