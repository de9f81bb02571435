package dev.meterd.edge;

/** A record, or the node's name, breaks the wire format; nothing was written. */
public final class InvalidUsageException extends RuntimeException {

  public InvalidUsageException(String message) {
    super(message);
  }
}
