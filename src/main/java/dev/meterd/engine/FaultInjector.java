package dev.meterd.engine;

/**
 * Named points in a run where tests inject a crash. Production runs with {@link #NONE}.
 */
public interface FaultInjector {

  enum Point {
    /** A file of the node was parsed; nothing of the node is committed. */
    AFTER_PARSE,
    /** The file's records are in the consumed-record index, uncommitted. */
    AFTER_RECORDS,
    /** The charges are inserted and the wallets debited, uncommitted. */
    AFTER_LEDGER_ROWS,
    /** The cursor update is next, uncommitted. */
    BEFORE_CURSOR,
    /** The node is applied in its group (its savepoint released); the group is not committed. */
    AFTER_NODE_RELEASED,
    /** The group holding the node committed; the nodes after the group are not yet run. */
    AFTER_NODE_COMMIT
  }

  /**
   * The injector a system property asks for ({@code -Dmeterd.fault=POINT[:NODE]}, POINT as in
   * {@link Point}, in lower case with dashes): it kills the process at once, as a power cut
   * would, when the point is reached (for NODE only, when named). Off unless the property is set.
   * With {@code -Dmeterd.fault.marker=FILE} it first appends a line {@code POINT NODE} to FILE,
   * so that a test can tell the process died at the point and not, say, while starting.
   */
  static FaultInjector fromSystemProperty() {
    String spec = System.getProperty("meterd.fault");
    if (spec == null || spec.isBlank()) {
      return NONE;
    }
    String[] parts = spec.split(":", 2);
    Point target = Point.valueOf(parts[0].trim().toUpperCase(java.util.Locale.ROOT).replace('-', '_'));
    String onlyNode = parts.length > 1 ? parts[1] : null;
    String marker = System.getProperty("meterd.fault.marker");
    return (point, node) -> {
      if (point == target && (onlyNode == null || onlyNode.equals(node))) {
        if (marker != null) {
          mark(java.nio.file.Path.of(marker), parts[0].trim() + " " + node + "\n");
        }
        Runtime.getRuntime().halt(137);
      }
    };
  }

  private static void mark(java.nio.file.Path marker, String line) {
    try {
      java.nio.file.Files.writeString(marker, line, java.nio.file.StandardOpenOption.CREATE,
          java.nio.file.StandardOpenOption.APPEND);
    } catch (java.io.IOException e) {
      // The kill goes ahead; the test that asked for the marker fails on its absence, with this cause.
      System.err.println("meterd: cannot write the fault marker " + marker + ": " + e.getMessage());
    }
  }

  FaultInjector NONE = (point, node) -> {};

  /** Called at each point; a test's injector throws (or kills the process) to simulate a crash. */
  void reached(Point point, String node);
}
