package dev.meterd.ledger;

import dev.meterd.batch.BatchContentException;
import dev.meterd.batch.UsageRecord;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * The engine's side of the ledger: the run mark, every node's track, one node's atomic write
 * (records, charges, balances, cursor) and its halt. Store failures are {@link LedgerException}s.
 */
public interface NodeStore {

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

  /** The halted nodes, by name. */
  List<NodeState> haltedNodes();

  /**
   * Starts one node's atomic run, alone in its transaction: the records added to it are debited
   * and the cursor advanced together by {@link NodeWrite#commit}, or nothing of it is applied.
   *
   * @param dryRun when true, commit classifies and counts everything, then rolls back
   */
  NodeWrite beginNode(String node, boolean dryRun);

  /**
   * Starts a group: one transaction (holding the write lock) in which several nodes run one after
   * another, each in a savepoint of its own. A node's {@link NodeWrite#commit} releases its
   * savepoint; closing it without one rolls back to it, so each node stays all or nothing and
   * the group goes on. Nothing of the group is durable before {@link NodeGroup#commit}.
   *
   * @param dryRun when true, the group's commit rolls everything back
   */
  NodeGroup beginGroup(boolean dryRun);

  /** Halts a node with its error, keeping its cursor; returns its new state. */
  NodeState halt(String node, NodeError error, String haltedTreeId);

  /** Clears a halted node so that the next run retries it; empty when no such node. */
  Optional<NodeState> resume(String node);

  /** Several nodes' runs in one transaction; see {@link #beginGroup}. Closing it uncommitted rolls it all back. */
  interface NodeGroup extends AutoCloseable {

    /**
     * Starts a node's run in a savepoint of the group, after the previous node's run ended.
     *
     * @throws GroupLostException the group's transaction is gone (see {@link #lost})
     */
    NodeWrite beginNode(String node);

    /**
     * Halts a node in the group's transaction (in a savepoint of its own), keeping its cursor.
     *
     * @throws GroupLostException the group's transaction is gone
     */
    NodeState halt(String node, NodeError error, String haltedTreeId);

    /**
     * Why the group's transaction is gone (a database error that rolled it back whole, such as a
     * full disk or an I/O error, or a node's savepoint that could not be rolled back), or empty
     * while it stands. A lost group commits nothing: every node it held must be run again.
     */
    Optional<LedgerException> lost();

    /** The nodes run or halted in the group so far. */
    int nodes();

    /** The records consumed by the group's nodes so far. */
    long records();

    /**
     * Commits every node of the group at once (a dry run's group rolls back).
     *
     * @throws LedgerException the commit failed, or the group was lost: nothing of it is applied
     */
    void commit();

    @Override
    void close();
  }

  /** The group's transaction was rolled back whole: nothing of it will be committed. */
  final class GroupLostException extends LedgerException {
    private static final long serialVersionUID = 1L;

    public GroupLostException(LedgerException cause) {
      super(cause.getMessage(), cause);
    }
  }

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

    /**
     * Debits the wallets and advances the cursor: committed at once for a node begun alone (rolled
     * back, for a dry run), released into its group for a node of a {@link NodeGroup}.
     */
    default NodeApplied commit(NodeCursor cursor) {
      return commit(cursor, stage -> {});
    }

    /** As {@link #commit(NodeCursor)}, telling {@code probe} each stage reached before the commit. */
    NodeApplied commit(NodeCursor cursor, Consumer<CommitStage> probe);

    @Override
    void close();
  }
}
