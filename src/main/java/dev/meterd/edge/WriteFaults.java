package dev.meterd.edge;

import java.io.IOException;
import java.util.Locale;

/**
 * Points in a writer's file replacement where tests make it fail: {@code -Dmeterd.fault=POINT[:K]},
 * POINT in lower case with dashes, K the file of the process (counted from 1 over every file it
 * stages) at which to fail, 1 when left out. Most points kill the process at once, as a power cut
 * would; the {@code -fails} ones throw the {@link IOException} a full or failing disk would, and
 * the process goes on. Production runs with none: a property naming another point (the
 * aggregator's) changes nothing.
 */
final class WriteFaults {

  enum Point {
    /** The new file is staged with half of the new bytes, synced. */
    MID_RECORD_WRITE,
    /** Writing the staged file throws, as on a full disk. */
    WRITE_FAILS,
    /** The new file is staged whole and synced, not yet renamed over the old one. */
    BEFORE_RENAME,
    /** Renaming the staged file over the old one throws. */
    RENAME_FAILS,
    /** The file was renamed into place. */
    AFTER_FILE_WRITE,
    /**
     * The call whose last file is K is written whole and done with: only its answer to the caller
     * is still to come.
     */
    AFTER_COMMIT
  }

  static final WriteFaults FROM_SYSTEM_PROPERTY = parse(System.getProperty("meterd.fault"));
  /** No fault anywhere. */
  static final WriteFaults NONE = parse(null);

  private final Point point;
  private final int file;
  private int started;

  private WriteFaults(Point point, int file) {
    this.point = point;
    this.file = file;
  }

  static WriteFaults parse(String spec) {
    if (spec == null || spec.isBlank()) {
      return new WriteFaults(null, 0);
    }
    String[] parts = spec.split(":", 2);
    for (Point p : Point.values()) {
      if (p.name().equals(parts[0].trim().toUpperCase(Locale.ROOT).replace('-', '_'))) {
        return new WriteFaults(p, parts.length > 1 ? Integer.parseInt(parts[1].trim()) : 1);
      }
    }
    return new WriteFaults(null, 0);
  }

  /** Counts a file being staged; returns its number in the process, from 1. */
  synchronized int fileStarted() {
    return ++started;
  }

  /** Whether the process is to fail at {@code p} of file number {@code n}. */
  synchronized boolean at(Point p, int n) {
    return p == point && n == file;
  }

  /**
   * Fails at {@code p} of file number {@code n} when asked to: dies, or for a {@code -fails}
   * point throws.
   */
  void reached(Point p, int n) throws IOException {
    if (!at(p, n)) {
      return;
    }
    switch (p) {
      case WRITE_FAILS -> throw new IOException("No space left on device (injected at write-fails:" + n + ")");
      case RENAME_FAILS -> throw new IOException("Input/output error (injected at rename-fails:" + n + ")");
      default -> Runtime.getRuntime().halt(137);
    }
  }
}
