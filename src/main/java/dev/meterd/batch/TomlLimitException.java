package dev.meterd.batch;

/**
 * A document that was valid TOML as far as it was read, stopped at a limit of the reader, with
 * the 1-based line where the parser stopped.
 */
final class TomlLimitException extends RuntimeException {

  enum Limit {
    /** One more element of the top-level {@code records} array than the bounds allow. */
    RECORDS,
    /** The tree would take more heap than the bounds allow. */
    HEAP
  }

  final Limit limit;
  final int line;

  TomlLimitException(Limit limit, int line) {
    super(limit + " at line " + line, null, false, false);
    this.limit = limit;
    this.line = line;
  }
}
