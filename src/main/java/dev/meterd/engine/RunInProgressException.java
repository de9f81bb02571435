package dev.meterd.engine;

/**
 * An aggregation run is already in progress on this database, in this process or another: runs
 * never overlap.
 */
public final class RunInProgressException extends RuntimeException {

  public RunInProgressException() {
    super("an aggregation run is already in progress on this database; try again when it has finished",
        null, false, false);
  }
}
