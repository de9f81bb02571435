package dev.meterd.engine;

import java.util.Set;

/**
 * One aggregation run's options.
 *
 * @param dryRun read and validate everything, write nothing
 * @param nodes only these nodes; empty for every node
 */
public record RunRequest(boolean dryRun, Set<String> nodes) {

  public static final RunRequest ALL = new RunRequest(false, Set.of());

  public RunRequest {
    nodes = Set.copyOf(nodes);
  }
}
