package dev.meterd.daemon;

import dev.meterd.admin.AggregationTrigger;
import dev.meterd.engine.RunInProgressException;
import dev.meterd.admin.RunUnavailableException;
import dev.meterd.ledger.LedgerException;
import dev.meterd.source.SourceException;
import dev.meterd.engine.Aggregator;
import dev.meterd.engine.RunRequest;
import dev.meterd.engine.RunSummary;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.WorkerExecutor;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs aggregation on a dedicated worker thread, never two runs at once: a request while a run
 * is in progress fails at once with {@link RunInProgressException} rather than queueing.
 */
public final class AggregationService implements AggregationTrigger {

  private static final Logger log = LoggerFactory.getLogger(AggregationService.class);

  private final Aggregator aggregator;
  private final Metrics metrics;
  private final WorkerExecutor worker;
  /** The run in progress, or null: the single-flight guard and what shutdown waits for. */
  private final AtomicReference<Future<RunSummary>> current = new AtomicReference<>();
  private final AtomicReference<RunSummary> last = new AtomicReference<>();

  public AggregationService(Vertx vertx, Aggregator aggregator, Metrics metrics) {
    this.aggregator = aggregator;
    this.metrics = metrics;
    // One thread, and runs allowed up to an hour before Vert.x warns of a blocked worker.
    this.worker = vertx.createSharedWorkerExecutor("meterd-aggregation", 1, 1, java.util.concurrent.TimeUnit.HOURS);
  }

  @Override
  public synchronized Future<RunSummary> runNow() {
    if (current.get() != null) {
      return Future.failedFuture(new RunInProgressException());
    }
    long start = System.nanoTime();
    Future<RunSummary> run = worker.<RunSummary>executeBlocking(() -> aggregator.run(RunRequest.ALL), false)
        .recover(e -> Future.failedFuture(e instanceof SourceException || e instanceof LedgerException
            ? new RunUnavailableException(e.getMessage(), e) : e));
    current.set(run);
    return run.andThen(ar -> {
      Duration took = Duration.ofNanos(System.nanoTime() - start);
      if (ar.succeeded()) {
        last.set(ar.result());
        metrics.recordRun(ar.result(), took);
      } else if (ar.cause() instanceof RunInProgressException) {
        log.info("aggregation skipped: {}", ar.cause().getMessage());
      } else {
        metrics.recordFailure(took);
        log.warn("aggregation run failed: {}", ar.cause().getMessage());
      }
      current.set(null);
    });
  }

  @Override
  public java.util.Optional<RunSummary> lastRun() {
    return java.util.Optional.ofNullable(last.get());
  }

  /** Lets the node in flight finish, stops the run there, and completes when it has. */
  public Future<Void> shutdown() {
    aggregator.requestStop();
    Future<RunSummary> run = current.get();
    Future<Void> done = run == null ? Future.succeededFuture() : run.<Void>mapEmpty().recover(e -> Future.succeededFuture());
    return done.andThen(ar -> worker.close());
  }
}
