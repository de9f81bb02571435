package dev.meterd.engine;

import dev.meterd.ledger.NodeError;

/** What one run did with one node. */
public sealed interface NodeOutcome {

  String node();

  /** Unchanged since its cursor: no file read. */
  record Skipped(String node) implements NodeOutcome {}

  /** Read and applied (possibly nothing new). */
  record Consumed(String node, long recordsConsumed, long recordsDuplicate, long debitedCents,
      java.time.Instant newestOccurredAt) implements NodeOutcome {}

  /** Failed now, or still halted from an earlier run; nothing of this run was applied. */
  record Halted(String node, NodeError error) implements NodeOutcome {}
}
