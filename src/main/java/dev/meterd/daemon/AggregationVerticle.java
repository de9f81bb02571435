package dev.meterd.daemon;

import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import java.time.Duration;

/** Runs aggregation on a timer: once at start, then every interval. */
final class AggregationVerticle extends VerticleBase {

  private final AggregationService service;
  private final Duration interval;
  private long timerId = -1;

  AggregationVerticle(AggregationService service, Duration interval) {
    this.service = service;
    this.interval = interval;
  }

  @Override
  public Future<?> start() {
    // A failed run is logged and counted by the service, and a tick while a run (say, one an
    // admin triggered) is in progress is simply skipped: the next tick retries either way.
    timerId = vertx.setPeriodic(1, interval.toMillis(), id -> service.runNow());
    return Future.succeededFuture();
  }

  @Override
  public Future<?> stop() {
    vertx.cancelTimer(timerId);
    return Future.succeededFuture();
  }
}
