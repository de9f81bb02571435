package dev.meterd.ledger;

/**
 * Why a node is halted.
 *
 * @param kind content errors wait for a change or an operator; transient ones are retried
 * @param file the file's path in the repository, or null when no file is to blame
 * @param line the 1-based line, or null when not known
 * @param message what is wrong, as one sentence
 */
public record NodeError(Kind kind, String file, Integer line, String message) {

  public enum Kind {
    CONTENT,
    TRANSIENT
  }

  public NodeError {
    java.util.Objects.requireNonNull(kind, "kind");
    java.util.Objects.requireNonNull(message, "message");
  }
}
