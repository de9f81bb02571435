package dev.meterd.admin;

import dev.meterd.engine.RunInProgressException;

import dev.meterd.engine.RunSummary;
import io.vertx.core.Future;

/** Starts an aggregation run now; fails with {@link RunInProgressException} while one runs. */
public interface AggregationTrigger {

  Future<RunSummary> runNow();

  /** The last run that completed, or empty before the first. */
  java.util.Optional<RunSummary> lastRun();
}
