package dev.meterd.source;

/** The source could not be reached or read; the next run retries. */
public class SourceException extends Exception {

  public SourceException(String message, Throwable cause) {
    super(message, cause);
  }

  public SourceException(String message) {
    super(message);
  }
}
