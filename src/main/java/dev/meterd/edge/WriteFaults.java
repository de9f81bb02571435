package dev.meterd.edge;

import java.util.Locale;

/**
 * Points in a writer's file replacement where tests kill the process at once, as a power cut
 * would: {@code -Dmeterd.fault=POINT[:K]}, POINT in lower case with dashes, K the file of the
 * process (counted from 1 over every file it replaces) at which to die, 1 when left out.
 * Production runs with none: a property naming another point (the aggregator's) changes nothing.
 */
final class WriteFaults {

  enum Point {
    /** The new file is staged with half of the new bytes, synced. */
    MID_RECORD_WRITE,
    /** The new file is staged whole and synced, not yet renamed over the old one. */
    BEFORE_RENAME,
    /** The file was replaced and its folder synced. */
    AFTER_FILE_WRITE
  }

  static final WriteFaults FROM_SYSTEM_PROPERTY = parse(System.getProperty("meterd.fault"));

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

  /** Counts a file replacement starting. */
  synchronized void fileStarted() {
    started++;
  }

  /** Whether the process is to die at {@code p} of the file being replaced. */
  synchronized boolean at(Point p) {
    return p == point && started == file;
  }

  /** Dies at {@code p} of the file being replaced when asked to. */
  void reached(Point p) {
    if (at(p)) {
      Runtime.getRuntime().halt(137);
    }
  }
}
