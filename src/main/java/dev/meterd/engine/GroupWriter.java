package dev.meterd.engine;

import dev.meterd.batch.BatchContentException;
import dev.meterd.batch.UsageBatch;
import dev.meterd.ledger.LeaseLostException;
import dev.meterd.ledger.LedgerException;
import dev.meterd.ledger.NodeApplied;
import dev.meterd.ledger.NodeCursor;
import dev.meterd.ledger.NodeError;
import dev.meterd.ledger.NodeStore;
import dev.meterd.source.SourceException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Applies a run's nodes, in the order the reader read them, in groups: several nodes in one
 * transaction, each in its own savepoint, committed when the group reaches its {@link
 * GroupBounds} and at the end. A node that fails is rolled back to its savepoint and halted in
 * the group; a group whose transaction is lost (a full disk, an I/O error, a failed commit)
 * halts each of its nodes as transient, outside it, and the run goes on with the next group. An
 * outcome is final only once its group committed.
 */
final class GroupWriter {

  private static final Logger log = LoggerFactory.getLogger(GroupWriter.class);

  /** A node's debits would take the run's total past 2^63 - 1 cents (its write is rolled back). */
  private static final class RunTotalOverflowException extends RuntimeException {
    private static final long serialVersionUID = 1L;
  }

  private final NodeStore store;
  private final NodeReader reader;
  private final FaultInjector faults;
  private final GroupBounds bounds;
  private final boolean dryRun;
  private final BooleanSupplier stopRequested;
  private final Map<String, NodeOutcome> outcomes;
  /** The cents debited by the groups this run has committed; never past 2^63 - 1 with the pending ones. */
  private long committedDebited;

  private NodeStore.NodeGroup group;
  private long groupStartNanos;
  private final List<NodeOutcome> pending = new ArrayList<>();
  private long pendingDebited;
  private int takenOver;

  GroupWriter(NodeStore store, NodeReader reader, FaultInjector faults, GroupBounds bounds, boolean dryRun,
      BooleanSupplier stopRequested, Map<String, NodeOutcome> outcomes) {
    this.store = store;
    this.reader = reader;
    this.faults = faults;
    this.bounds = bounds;
    this.dryRun = dryRun;
    this.stopRequested = stopRequested;
    this.outcomes = outcomes;
  }

  /**
   * Reads the planned nodes ahead on another thread and applies them here; outcomes go to the
   * caller's map.
   *
   * @return whether every planned node was applied: false after a stop or an interrupt, when the
   *     nodes not reached must not be covered by a run mark
   */
  boolean run(List<NodeReader.Planned> plan, NodeClaims claims) {
    try (ReadAhead ahead = new ReadAhead(reader, plan, bounds.readAhead(), claims::mayRead)) {
      // The group ends inside the read-ahead's block: closing the read-ahead waits for the reader,
      // and the write lock must not be held while it reads (a slow forge).
      try {
        return applyAll(ahead);
      } catch (InterruptedException e) {
        // As a shutdown: what is applied is committed, the rest waits for the next run.
        Thread.currentThread().interrupt();
        commitGroup();
        return false;
      } finally {
        if (group != null) {
          // An exception (a simulated crash) left the group uncommitted: rolled back, as a crash would.
          group.close();
          group = null;
        }
      }
    }
  }

  private boolean applyAll(ReadAhead ahead) throws InterruptedException {
    while (true) {
      NodeReader.Prepared next = group == null ? ahead.take() : ahead.poll(remainingNanos());
      if (next == null) {
        if (ahead.ended()) {
          commitGroup();
          return true;
        }
        // The reader is behind: commit rather than hold the write lock waiting for it.
        commitGroup();
        continue;
      }
      try {
        if (Thread.interrupted()) {
          // The queue can hand a node over with the interrupt pending: a wait signalled and
          // interrupted at once returns the node and keeps the interrupt. The run stops before it all the same.
          throw new InterruptedException("interrupted as node " + next.node() + " was handed over");
        }
        if (stopRequested.getAsBoolean()) {
          log.info("stopping before node {}: shutdown requested", next.node());
          commitGroup();
          return false;
        }
        apply(next);
      } finally {
        reader.done(next);
      }
      if (group != null && full()) {
        commitGroup();
      }
    }
  }

  private boolean full() {
    return group.nodes() >= bounds.maxNodes() || group.records() >= bounds.maxRecords() || remainingNanos() <= 0;
  }

  private long remainingNanos() {
    return bounds.maxTime().toNanos() - (System.nanoTime() - groupStartNanos);
  }

  private NodeStore.NodeGroup group() {
    if (group == null) {
      group = store.beginGroup(dryRun);
      groupStartNanos = System.nanoTime();
    }
    return group;
  }

  private void apply(NodeReader.Prepared next) {
    if (next instanceof NodeReader.Failed failed) {
      fail(failed.node(), failed.treeId(), failed.cause());
      return;
    }
    NodeReader.Ready ready = (NodeReader.Ready) next;
    if (group != null && group.records() > 0 && ready.records() > bounds.maxRecords() - group.records()) {
      // A node that would take the group past its bound of records starts the next group: a
      // big node runs alone, and a database error in it (a full disk) costs no other node its run.
      commitGroup();
    }
    NodeOutcome.Consumed consumed;
    try {
      consumed = write(ready);
    } catch (BatchContentException | SourceException | RuntimeException | OutOfMemoryError e) {
      fail(ready.node(), ready.treeId(), e);
      return;
    }
    pending.add(consumed);
    if (!dryRun) {
      faults.reached(FaultInjector.Point.AFTER_NODE_RELEASED, ready.node());
    }
  }

  /**
   * Writes the node in a savepoint of the group. The write lock is taken only now, with every
   * file read and parsed: a slow source must not keep grants and resumes waiting.
   */
  private NodeOutcome.Consumed write(NodeReader.Ready ready) throws SourceException, BatchContentException {
    String node = ready.node();
    NodeApplied applied;
    try (NodeStore.NodeWrite write = group().beginNode(node)) {
      for (NodeReader.ReadFile file : ready.files()) {
        UsageBatch batch = reader.batch(node, file);
        write.add(batch.path(), batch.records());
        faults.reached(FaultInjector.Point.AFTER_RECORDS, node);
      }
      if (Long.MAX_VALUE - committedDebited - pendingDebited < write.debitedCents()) {
        throw new RunTotalOverflowException();
      }
      applied = write.commit(new NodeCursor(ready.touchingCommit(), ready.treeId(), ready.warning()),
          stage -> faults.reached(stage == NodeStore.CommitStage.LEDGER_ROWS_WRITTEN
              ? FaultInjector.Point.AFTER_LEDGER_ROWS : FaultInjector.Point.BEFORE_CURSOR, node));
    }
    pendingDebited += applied.debitedCents();
    return new NodeOutcome.Consumed(node, applied.recordsConsumed(), applied.recordsDuplicate(),
        applied.debitedCents(), applied.newestOccurredAt());
  }

  /** How many nodes this run left because another daemon took them over (their leases lapsed). */
  int takenOver() {
    return takenOver;
  }

  /** A node failed, reading or writing: halted in the group with its reason, or the group is lost. */
  private void fail(String node, String treeId, Throwable e) {
    if (group != null && group.lost().isPresent()) {
      loseGroup(node, e instanceof LedgerException own ? own : group.lost().get());
      return;
    }
    if (e instanceof LeaseLostException lost) {
      leaseLost(lost);
      return;
    }
    NodeError error;
    String haltedTreeId = null;
    if (e instanceof BatchContentException content) {
      error = new NodeError(NodeError.Kind.CONTENT, content.path(), content.line() > 0 ? content.line() : null,
          content.error());
      haltedTreeId = treeId;
    } else if (e instanceof SourceException || e instanceof LedgerException) {
      log.debug("node {} transient failure", node, e);
      log.warn("node {} halted until the next run: {}", node, e.getMessage());
      error = new NodeError(NodeError.Kind.TRANSIENT, null, null, e.getMessage());
    } else if (e instanceof RunTotalOverflowException) {
      // The summary's total must stay exact; alone, the node fits in the next run.
      error = new NodeError(NodeError.Kind.TRANSIENT, null, null, "the debits of this run would pass "
          + Long.MAX_VALUE + " cents in all; the node is retried by the next run");
    } else if (e instanceof ArithmeticException) {
      error = new NodeError(NodeError.Kind.CONTENT, null, null, "the costs of this run overflow a 64-bit sum of cents");
      haltedTreeId = treeId;
    } else if (e instanceof OutOfMemoryError) {
      // The parser refuses a file whose tree would pass its budget, and the start-up check left
      // room for a file at the size limit: running out anyway means something else took the
      // heap, not that a file is bad, so the node is retried next run rather than parked. What
      // it had read is garbage once this node is done, so the run goes on to the next node.
      String message = "ran out of heap reading the node's files (the JVM has "
          + (Runtime.getRuntime().maxMemory() >> 20) + " MiB); it is retried on the next run: if it happens "
          + "again, start java with a larger -Xmx";
      log.warn("node {} halted until the next run: {}", node, message);
      error = new NodeError(NodeError.Kind.TRANSIENT, null, null, message);
    } else {
      // A defect, not bad input: keep the node's reason, retry next run, and leave the trace.
      log.error("node {} failed unexpectedly", node, e);
      error = new NodeError(NodeError.Kind.TRANSIENT, null, null, "unexpected error: " + e);
    }
    if (error.kind() == NodeError.Kind.CONTENT) {
      log.warn("node {} halted: {}{}: {}", node, error.file() == null ? "" : error.file(),
          error.line() == null ? "" : ":" + error.line(), error.message());
    }
    if (!dryRun) {
      try {
        group().halt(node, error, haltedTreeId);
      } catch (NodeStore.GroupLostException lost) {
        loseGroup(node, lost);
        return;
      } catch (LeaseLostException lost) {
        leaseLost(lost);
        return;
      } catch (LedgerException haltFailed) {
        // The database cannot take even the halt: the run stops, and the first error is its cause.
        if (e instanceof LedgerException first) {
          first.addSuppressed(haltFailed);
          throw first;
        }
        throw haltFailed;
      }
    }
    pending.add(new NodeOutcome.Halted(node, error));
  }

  /** Another daemon holds the node now: nothing of this run's is written, and it is that daemon's to run. */
  private void leaseLost(LeaseLostException lost) {
    log.warn("{}", lost.getMessage());
    takenOver++;
  }

  /**
   * Commits the group: its outcomes become final (a dry run's halts, written nowhere, have no
   * group). A failed commit loses the group.
   */
  private void commitGroup() {
    if (group != null) {
      try {
        group.commit();
      } catch (LedgerException e) {
        loseGroup(null, e);
        return;
      } finally {
        group = null;
      }
    }
    committedDebited += pendingDebited;
    pendingDebited = 0;
    List<NodeOutcome> done = new ArrayList<>(pending);
    pending.clear();
    for (NodeOutcome outcome : done) {
      outcomes.put(outcome.node(), outcome);
    }
    if (!dryRun) {
      for (NodeOutcome outcome : done) {
        if (outcome instanceof NodeOutcome.Consumed) {
          faults.reached(FaultInjector.Point.AFTER_NODE_COMMIT, outcome.node());
        }
      }
    }
  }

  /**
   * The group's transaction is gone: nothing of it is applied. Each of its nodes (and {@code
   * failing}, the one in progress, if any) is halted as transient, each in a transaction of its
   * own, and is run again by the next run; if the database cannot take that either, the run stops.
   */
  private void loseGroup(String failing, LedgerException cause) {
    List<String> nodes = new ArrayList<>();
    for (NodeOutcome outcome : pending) {
      nodes.add(outcome.node());
    }
    if (failing != null) {
      nodes.add(failing);
    }
    if (group != null) {
      group.close();
      group = null;
    }
    pending.clear();
    pendingDebited = 0;
    log.warn("a group of {} nodes was rolled back, each halted until the next run: {}", nodes.size(),
        cause.getMessage());
    // The node whose write lost the group is halted with its own error; the others say what took them along.
    NodeError own = new NodeError(NodeError.Kind.TRANSIENT, null, null, cause.getMessage());
    NodeError alongside = new NodeError(NodeError.Kind.TRANSIENT, null, null, "the group of " + nodes.size()
        + " nodes it was applied with could not be committed: " + cause.getMessage() + "; it is retried on the next run");
    for (String node : nodes) {
      NodeError error = node.equals(failing) || nodes.size() == 1 ? own : alongside;
      if (!dryRun) {
        try {
          store.halt(node, error, null);
        } catch (LeaseLostException lost) {
          leaseLost(lost);
          continue;
        } catch (LedgerException haltFailed) {
          cause.addSuppressed(haltFailed);
          throw cause;
        }
      }
      outcomes.put(node, new NodeOutcome.Halted(node, error));
    }
  }
}
