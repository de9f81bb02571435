package dev.meterd.ledger;

/**
 * The store failed (I/O, a lock held too long, a full disk). Nothing of the operation was
 * applied; it may be retried.
 */
public class LedgerException extends RuntimeException {

  public LedgerException(String message, Throwable cause) {
    super(message, cause);
  }

  public LedgerException(String message) {
    super(message);
  }
}
