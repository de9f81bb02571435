package dev.meterd.engine;

/**
 * Named points in a run where tests inject a crash. Production runs with {@link #NONE}.
 */
public interface FaultInjector {

  enum Point {
    /** A file of the node was parsed; nothing of the node is committed. */
    AFTER_PARSE,
    /** The node's transaction committed; later nodes are not yet run. */
    AFTER_NODE_COMMIT
  }

  FaultInjector NONE = (point, node) -> {};

  /** Called at each point; a test's injector throws (or kills the process) to simulate a crash. */
  void reached(Point point, String node);
}
