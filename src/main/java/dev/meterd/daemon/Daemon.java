package dev.meterd.daemon;

import dev.meterd.admin.AdminApi;
import dev.meterd.admin.AdminTokens;
import dev.meterd.batch.BatchParser;
import dev.meterd.config.MeterdConfig;
import dev.meterd.engine.Aggregator;
import dev.meterd.engine.FaultInjector;
import dev.meterd.ledger.Ledger;
import dev.meterd.source.BatchSource;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.time.Clock;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The running daemon: aggregation on a timer and on demand, and the HTTP server.
 *
 * <p>The aggregator and the HTTP handlers each have their own ledger (their own SQLite
 * connection): a node's transaction in progress on one is never seen, or joined, by a request
 * on the other; the write lock serializes them.
 */
public final class Daemon implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(Daemon.class);
  private static final long START_TIMEOUT_SECONDS = 30;

  private final Vertx vertx;
  private final AggregationService service;
  private final HttpVerticle http;
  private final AutoCloseable[] resources;

  private Daemon(Vertx vertx, AggregationService service, HttpVerticle http, AutoCloseable... resources) {
    this.vertx = vertx;
    this.service = service;
    this.http = http;
    this.resources = resources;
  }

  /**
   * Starts the daemon; the caller hands over the source and both ledgers, which the daemon
   * closes.
   */
  public static Daemon start(MeterdConfig config, AdminTokens tokens, BatchParser parser, BatchSource source,
      Ledger runLedger, Ledger apiLedger, Clock clock) throws Exception {
    if (tokens.isEmpty()) {
      throw new IllegalStateException("no admin token configured");
    }
    Vertx vertx = Vertx.vertx();
    try {
      Aggregator aggregator = new Aggregator(source, runLedger, parser, clock, FaultInjector.NONE);
      Metrics metrics = new Metrics(clock, apiLedger.reads().newestOccurredAt());
      AggregationService service = new AggregationService(vertx, aggregator, metrics);
      String listen = config.http().listen();
      int colon = listen.lastIndexOf(':');
      String host = listen.substring(0, colon).replace("[", "").replace("]", "");
      int port = Integer.parseInt(listen.substring(colon + 1));
      HttpVerticle http = new HttpVerticle(host, port, v -> new AdminApi(v, apiLedger, tokens, service,
          metrics::scrape, config.admin().maxGrantCents(), config.http().publicOrigin(),
          config.credit().enforcement(), clock).router());
      await(vertx.deployVerticle(http));
      await(vertx.deployVerticle(new AggregationVerticle(service, config.aggregator().interval()),
          new DeploymentOptions()));
      log.info("meterd serving on http://{}:{} (aggregation every {} s, credit enforcement {})", host,
          http.actualPort(), config.aggregator().interval().toSeconds(), config.credit().enforcement() ? "on" : "off");
      return new Daemon(vertx, service, http, source, runLedger, apiLedger);
    } catch (Exception e) {
      await(vertx.close());
      throw e;
    }
  }

  public int port() {
    return http.actualPort();
  }

  /** Lets the node transaction in flight finish, stops the HTTP server, and closes everything. */
  @Override
  public void close() throws Exception {
    log.info("meterd stopping: finishing the node in flight");
    try {
      await(service.shutdown());
      await(vertx.close());
    } finally {
      for (AutoCloseable r : resources) {
        r.close();
      }
    }
    log.info("meterd stopped");
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
