package dev.meterd.ledger;

/**
 * What one node's run changed in the ledger.
 *
 * @param recordsConsumed records consumed for the first time
 * @param recordsDuplicate records read whose key was already consumed with the same content
 * @param debitedCents the sum of the consumed records' costs
 * @param newestOccurredAt the latest {@code occurred_at} among the consumed records, or null
 */
public record NodeApplied(long recordsConsumed, long recordsDuplicate, long debitedCents,
    java.time.Instant newestOccurredAt) {}
