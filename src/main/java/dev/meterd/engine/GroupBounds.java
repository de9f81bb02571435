package dev.meterd.engine;

import java.time.Duration;

/**
 * When a group of nodes, applied in one transaction, commits: once it holds {@code maxNodes}
 * nodes or {@code maxRecords} consumed records, or {@code maxTime} after it began (waiting for the
 * reader included: the write lock is never held longer for want of parsed nodes), and at the end
 * of the run. A crash loses at most the uncommitted group, which the next run redoes.
 *
 * @param readAhead how many nodes the reader may have read before the writer takes them
 */
public record GroupBounds(int maxNodes, long maxRecords, Duration maxTime, int readAhead) {

  /**
   * The defaults, measured on layout B (1,000,000 records, 1,000 shared users) on 2 cores: each
   * node alone 47 s, groups of 5,000 records 32 s, 20,000 23 s, 100,000 26 s; past about 20,000
   * records a group gains nothing, and half a second keeps the write lock short beside the API's
   * writers (their busy timeout is 10 s).
   */
  public static final GroupBounds DEFAULT = new GroupBounds(1_000, 20_000, Duration.ofMillis(500), 64);

  /** Each node its own transaction: what a node's commit meant before groups, for tests of it. */
  public static final GroupBounds ONE_NODE = new GroupBounds(1, Long.MAX_VALUE, Duration.ofDays(1), 64);

  public GroupBounds {
    if (maxNodes < 1 || maxRecords < 1 || maxTime.isNegative() || readAhead < 1) {
      throw new IllegalArgumentException("group bounds must be positive: " + maxNodes + " nodes, " + maxRecords
          + " records, " + maxTime + ", read ahead " + readAhead);
    }
  }
}
