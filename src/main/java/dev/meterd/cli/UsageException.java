package dev.meterd.cli;

/** The command was called wrongly (a bad value, a missing option): exit code 2. */
final class UsageException extends RuntimeException {

  UsageException(String message) {
    super(message);
  }
}
