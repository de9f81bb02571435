package dev.meterd.ledger;

/**
 * Where a node's successful run leaves it.
 *
 * @param lastCommitSha the newest commit touching the node's folder at the run's tip
 * @param treeId the folder's tree id at the run's tip
 * @param warning a condition to report in the node's state, or null
 */
public record NodeCursor(String lastCommitSha, String treeId, String warning) {}
