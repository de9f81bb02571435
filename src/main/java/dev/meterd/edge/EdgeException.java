package dev.meterd.edge;

/** The clone could not be written, committed or pushed; what was recorded stays in the clone. */
public class EdgeException extends Exception {

  public EdgeException(String message) {
    super(message);
  }

  public EdgeException(String message, Throwable cause) {
    super(message, cause);
  }
}
