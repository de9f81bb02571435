package dev.meterd.admin;

/** A request the API refuses, with the HTTP status to answer and a message safe to show. */
final class ApiException extends RuntimeException {

  final int status;

  ApiException(int status, String message) {
    super(message, null, false, false);
    this.status = status;
  }
}
