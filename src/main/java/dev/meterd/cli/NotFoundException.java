package dev.meterd.cli;

/** The command names something that does not exist (a wallet, a node): exit code 1. */
final class NotFoundException extends RuntimeException {

  NotFoundException(String message) {
    super(message);
  }
}
