package dev.meterd.ledger;

import dev.meterd.batch.BatchContentException;
import dev.meterd.batch.UsageRecord;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The wallet ledger and the aggregator's state: wallets, append-only transactions, the
 * consumed-record index and node cursors. {@link SqliteLedger} is the embedded store; the
 * engine depends only on this interface, so a shared store (PostgreSQL) can follow.
 *
 * <p>Failures of the store itself are {@link LedgerException}s.
 */
public interface Ledger extends AutoCloseable {

  /**
   * The last run that saw every node settled (consumed, unchanged, or halted by a content error
   * that waits for a change): a poll whose tip equals it reads nothing else.
   *
   * @param fullTip that run's branch tip, or null
   * @param nodesTotal how many node folders it saw
   * @param generation moves on every resume and every transient halt, which also clear the mark
   * @param lastTip the tip of the last run that looked at every node, settled or not, or null:
   *     the commits since it are searched for folders changed and changed back, and rewritten
   */
  record RunMark(String fullTip, int nodesTotal, long generation, String lastTip) {}

  RunMark runMark();

  /**
   * Records the mark of a run that looked at every node: its last tip always, and its full tip
   * (null if a node is not settled) if the mark's generation is still the stored one: a run that
   * read the mark before a node was resumed or transiently halted must not cover that node with
   * its mark.
   *
   * @return whether the full tip was recorded
   */
  boolean setRunMark(RunMark mark);

  /** The halted nodes, by name. */
  java.util.List<NodeState> haltedNodes();

  /** Every node the ledger knows, by name. */
  Map<String, NodeState> nodes();

  /**
   * What a run needs to know of a node to decide whether to read it: cheap to load for every
   * node on every poll.
   *
   * @param lastCommitSha the cursor's commit, or null before the first success
   * @param treeId the folder's tree id at the cursor, or null before the first success
   * @param haltKind why the node is halted, or null when it is not
   * @param haltedTreeId the folder's tree id when a content error halted it, or null
   */
  record NodeTrack(String lastCommitSha, String treeId, NodeError.Kind haltKind, String haltedTreeId) {

    public boolean halted() {
      return haltKind != null;
    }
  }

  /** Every node's track, by name. */
  Map<String, NodeTrack> tracks();

  Optional<NodeState> node(String name);

  /**
   * Starts one node's atomic run: the records added to it are debited and the cursor advanced
   * together by {@link NodeWrite#commit}, or nothing of it is applied.
   *
   * @param dryRun when true, commit classifies and counts everything, then rolls back
   */
  NodeWrite beginNode(String node, boolean dryRun);

  /** Halts a node with its error, keeping its cursor; returns its new state. */
  NodeState halt(String node, NodeError error, String haltedTreeId);

  /** Clears a halted node so that the next run retries it; empty when no such node. */
  Optional<NodeState> resume(String node);

  Optional<Wallet> wallet(String userSid);

  /** A wallet's transactions, newest first. */
  List<LedgerTxn> transactions(String userSid, int limit);

  List<Wallet> wallets();

  /**
   * Ledger transactions of the given types, newest first.
   *
   * @param beforeTxnId only transactions with a smaller id (the page cursor), or null for the newest
   */
  List<LedgerTxn> transactionPage(java.util.Set<TxnType> types, Long beforeTxnId, int limit);

  /** How usage is grouped by {@link #usage}. */
  enum Bucket {
    DAY,
    WEEK,
    MONTH
  }

  /**
   * Consumed usage in one bucket.
   *
   * @param start the bucket's first day (a Monday for weeks, the 1st for months), UTC
   */
  record UsageBucket(java.time.LocalDate start, long records, long costCents) {}

  /**
   * Consumed records grouped by their {@code occurred_at} (UTC), oldest first.
   *
   * @param from first day included, or null
   * @param to first day excluded, or null
   */
  List<UsageBucket> usage(Bucket bucket, java.time.LocalDate from, java.time.LocalDate to);

  /** The latest {@code occurred_at} of any consumed record, or null. */
  java.time.Instant newestOccurredAt();

  /** Credits a wallet (opening it if needed), attributed to {@code initiatedBy}. */
  LedgerTxn credit(String userSid, TxnType type, long amountCents, String initiatedBy, String note);

  /**
   * Credits a wallet at most once per idempotency key. In one transaction the key is claimed (its
   * primary key decides between concurrent requests, in any process), the wallet credited, and
   * {@code respond}'s answer stored under the key; a failure anywhere keeps neither. A key stored
   * before credits nothing: it answers {@link Idempotent.Replayed} with the stored answer, or
   * {@link Idempotent.KeyReused} when it came with another request. Keys are kept for
   * {@link Idempotent#RETENTION}.
   *
   * @param respond the answer to store, from the transaction written
   */
  Idempotent creditOnce(Idempotent.Claim claim, String userSid, TxnType type, long amountCents, String note,
      java.util.function.Function<LedgerTxn, Idempotent.Response> respond);

  /**
   * A consumed record as the index keeps it.
   *
   * @param key the idempotency key
   * @param userSid the wallet it debited
   * @param costCents what it cost
   */
  record Consumed(String key, String userSid, long costCents) {}

  /** A node's consumed records, in key order. */
  void forEachConsumed(String node, java.util.function.Consumer<Consumed> action);

  /** The commits of a node's charges: the snapshots whose records the ledger consumed. */
  java.util.Set<String> chargeCommits(String node);

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

  /**
   * Takes the ledger's run lock, held by at most one aggregation run at a time across every
   * process on this store; empty when another run holds it.
   */
  Optional<RunLock> tryLockRun();

  /** A held run lock; closing releases it. */
  interface RunLock extends AutoCloseable {
    @Override
    void close();
  }

  @Override
  void close();

  /** Stages inside a node's commit, for crash tests. */
  enum CommitStage {
    /** The charges are inserted and the wallets debited; the cursor is not yet moved. */
    LEDGER_ROWS_WRITTEN,
    /** The cursor update is next; nothing is committed yet. */
    BEFORE_CURSOR
  }

  /** One node's run in progress. Closing it without a commit rolls everything back. */
  interface NodeWrite extends AutoCloseable {

    /**
     * Consumes the records of one file: new keys are inserted and debited, keys consumed
     * before with the same user and cost are counted as duplicates.
     *
     * @throws BatchContentException a key consumed before with another user or cost
     */
    void add(String path, List<UsageRecord> records) throws BatchContentException;

    /** The cents the records added so far will debit (new records only, duplicates excluded). */
    long debitedCents();

    /** Debits the wallets, advances the cursor and commits (or, for a dry run, rolls back). */
    default NodeApplied commit(NodeCursor cursor) {
      return commit(cursor, stage -> {});
    }

    /** As {@link #commit(NodeCursor)}, telling {@code probe} each stage reached before the commit. */
    NodeApplied commit(NodeCursor cursor, java.util.function.Consumer<CommitStage> probe);

    @Override
    void close();
  }
}
