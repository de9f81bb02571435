package dev.meterd.ledger;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/** What {@code verify} and {@code verify --replay} read: the invariants and the consumed index. */
public interface LedgerAudit {

  /**
   * A consumed record as the index keeps it.
   *
   * @param key the idempotency key
   * @param userSid the wallet it debited
   * @param costCents what it cost
   */
  record Consumed(String key, String userSid, long costCents) {}

  /** A node's consumed records, in key order. */
  void forEachConsumed(String node, Consumer<Consumed> action);

  /**
   * The commits of every node's charges, by node name: the snapshots whose records the ledger
   * consumed. One pass over the ledger's rows for all nodes (per node, without an index on the
   * charges' node, it would be a pass each: hours for 10,000 nodes).
   */
  Map<String, Set<String>> chargeCommits();

  /** Reads that must agree with each other, run by {@link #readSnapshot}. */
  interface SnapshotReads<T, E extends Exception> {
    T run() throws E;
  }

  /**
   * Runs {@code reads} so that every read of this ledger inside it sees the ledger as of this
   * call, whatever other connections commit meanwhile: a check comparing two reads (the charges,
   * then the consumed records) must not see a run land between them. Only reads: a write inside
   * fails. Other threads' calls on this ledger wait until it returns.
   */
  <T, E extends Exception> T readSnapshot(SnapshotReads<T, E> reads) throws E;

  /** Checks every invariant of the ledger; empty when all hold. */
  List<Violation> verify();
}
