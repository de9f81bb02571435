package dev.meterd.admin;

/** An aggregation run is already in progress; runs never overlap. */
public final class RunInProgressException extends RuntimeException {

  public RunInProgressException() {
    super("an aggregation run is already in progress; try again when it has finished", null, false, false);
  }
}
