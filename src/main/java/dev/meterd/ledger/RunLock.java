package dev.meterd.ledger;

/**
 * A held run lock: at most one aggregation run at a time across every process on one store.
 * Closing releases it.
 */
public interface RunLock extends AutoCloseable {

  @Override
  void close();
}
