package dev.meterd.admin;

/** A run could not complete: the source or the database is unavailable; nothing was applied. */
public final class RunUnavailableException extends RuntimeException {

  public RunUnavailableException(String message, Throwable cause) {
    super(message, cause);
  }
}
