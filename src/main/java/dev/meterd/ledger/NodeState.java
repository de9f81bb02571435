package dev.meterd.ledger;

import java.time.Instant;

/**
 * The aggregator's state of one node.
 *
 * @param node the node's name
 * @param status ok or halted
 * @param lastCommitSha the newest commit touching the node's folder as of its last successful run
 * @param treeId the folder's tree id at {@code lastCommitSha}
 * @param lastRunAt when a run last processed the node (successfully or not)
 * @param recordsConsumedTotal records consumed from this node, ever
 * @param error why the node is halted, or null
 * @param haltedSince when it was first halted, or null
 * @param haltedTreeId the folder's tree id when a content error halted it, or null
 * @param warning a condition worth an operator's look (a rewritten history), or null
 */
public record NodeState(
    String node,
    Status status,
    String lastCommitSha,
    String treeId,
    Instant lastRunAt,
    long recordsConsumedTotal,
    NodeError error,
    Instant haltedSince,
    String haltedTreeId,
    String warning) {

  public enum Status {
    OK,
    HALTED
  }

  public boolean halted() {
    return status == Status.HALTED;
  }
}
