package dev.meterd.engine;

/** A run was asked for a node that has no folder at the branch tip. */
public final class UnknownNodeException extends RuntimeException {

  public UnknownNodeException(String message) {
    super(message);
  }
}
