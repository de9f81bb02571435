package dev.meterd.engine;

import java.time.Instant;
import java.util.List;

/**
 * What one run did, as the run summary of the interface spec.
 *
 * @param runId unique per run
 * @param outcomes the nodes consumed or halted, by name; skipped nodes are only counted
 * @param nodesSkipped nodes unchanged since their cursor, and nodes another daemon held (PostgreSQL)
 * @param ignored entries passed over among what this run read: folders under nodes/ that are
 *     not node names, and files in read node folders that are not usage files
 */
public record RunSummary(
    String runId,
    boolean dryRun,
    Instant startedAt,
    long durationMs,
    String headSha,
    List<NodeOutcome> outcomes,
    int nodesSkipped,
    int ignored) {

  public RunSummary {
    outcomes = List.copyOf(outcomes);
  }

  public int nodesTotal() {
    return nodesSkipped + outcomes.size();
  }

  public int nodesConsumed() {
    return (int) outcomes.stream().filter(o -> o instanceof NodeOutcome.Consumed).count();
  }

  public List<NodeOutcome.Halted> halted() {
    return outcomes.stream()
        .filter(o -> o instanceof NodeOutcome.Halted)
        .map(o -> (NodeOutcome.Halted) o)
        .toList();
  }

  public long recordsConsumed() {
    return consumed().mapToLong(NodeOutcome.Consumed::recordsConsumed).sum();
  }

  public long recordsDuplicate() {
    return consumed().mapToLong(NodeOutcome.Consumed::recordsDuplicate).sum();
  }

  public long debitedCents() {
    return consumed().mapToLong(NodeOutcome.Consumed::debitedCents).sum();
  }

  /** The latest {@code occurred_at} among the records this run consumed, or null. */
  public Instant newestOccurredAt() {
    return consumed().map(NodeOutcome.Consumed::newestOccurredAt).filter(java.util.Objects::nonNull)
        .max(Instant::compareTo).orElse(null);
  }

  private java.util.stream.Stream<NodeOutcome.Consumed> consumed() {
    return outcomes.stream().filter(o -> o instanceof NodeOutcome.Consumed).map(o -> (NodeOutcome.Consumed) o);
  }
}
