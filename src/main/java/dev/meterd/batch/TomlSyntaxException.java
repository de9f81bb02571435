package dev.meterd.batch;

/** A document that is not valid TOML 1.0, with the 1-based line where the parser stopped. */
final class TomlSyntaxException extends RuntimeException {

  final int line;

  TomlSyntaxException(int line, String message) {
    super(message, null, false, false);
    this.line = line;
  }
}
