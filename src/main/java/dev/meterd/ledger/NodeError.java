package dev.meterd.ledger;

/**
 * Why a node is halted.
 *
 * @param kind content errors wait for a change or an operator; transient ones are retried
 * @param file the file's path in the repository, or null when no file is to blame
 * @param line the 1-based line, or null when not known
 * @param message what is wrong, as one sentence; a U+0000 in it (quoted from a file) is written
 *     as its escape, a backslash and {@code u0000}
 */
public record NodeError(Kind kind, String file, Integer line, String message) {

  public enum Kind {
    CONTENT,
    TRANSIENT
  }

  public NodeError {
    java.util.Objects.requireNonNull(kind, "kind");
    java.util.Objects.requireNonNull(message, "message");
    // The message may quote a file or a peer; PostgreSQL's text cannot hold U+0000, and a halt
    // that could not be recorded failed the whole run. Both engines store the same escaped text.
    message = message.replace("\u0000", "\\u0000");
  }
}
