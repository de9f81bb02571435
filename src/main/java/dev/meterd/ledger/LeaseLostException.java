package dev.meterd.ledger;

/**
 * A node's run (or halt) was refused because the daemon no longer holds the lease it claimed the
 * node with: it lapsed, and another daemon claimed the node. Nothing of the run is written; the
 * node is the other daemon's now, so it is neither halted nor retried by this run.
 */
public final class LeaseLostException extends LedgerException {
  private static final long serialVersionUID = 1L;

  private final String node;

  public LeaseLostException(String node, String message) {
    super(message);
    this.node = node;
  }

  public String node() {
    return node;
  }
}
