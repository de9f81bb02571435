package dev.meterd.batch;

/**
 * The heap one parse may take for the tree it builds, and what it has taken so far: each table,
 * array, string and boxed value is charged before (or as) it is allocated, and the parse stops
 * when the charges pass the budget.
 *
 * <p>The sizes are those of a 64-bit HotSpot JVM with compressed references (any heap under
 * 32 GiB): a 12-byte object header, 4-byte references, objects padded to 8 bytes, 16-byte
 * array headers. They are estimates a little above the truth, checked by {@code
 * ParserHeapProbe}; they need not be exact, only never far below it.
 */
final class HeapBudget {

  /** A String object (header, value, hash, coder, hashIsZero), without its byte array. */
  private static final int STRING_BYTES = 24;
  /** A boxed Long or Double: a 12-byte header and 8 bytes, padded. */
  static final int BOX_BYTES = 24;

  private final long maxBytes;
  private long usedBytes;

  HeapBudget(long maxBytes) {
    this.maxBytes = maxBytes;
  }

  long usedBytes() {
    return usedBytes;
  }

  long maxBytes() {
    return maxBytes;
  }

  /** Charges something the tree keeps. */
  void charge(long bytes) {
    usedBytes += bytes;
    if (usedBytes > maxBytes) {
      throw new Exceeded();
    }
  }

  /** An array replaced by a larger copy: both exist until the copy is done, then the old one is garbage. */
  void grow(long oldBytes, long newBytes) {
    charge(newBytes);
    usedBytes -= oldBytes;
  }

  /** Something that exists only for a moment (a builder, a copy): checked, not kept. */
  void checkTransient(long bytes) {
    if (usedBytes + bytes > maxBytes) {
      throw new Exceeded();
    }
  }

  static long referenceArrayBytes(int length) {
    return pad(16 + 4L * length);
  }

  static long intArrayBytes(int length) {
    return pad(16 + 4L * length);
  }

  /** A String of {@code chars} characters; one byte each when all are below U+0100, else two. */
  static long stringBytes(int chars, boolean latin1) {
    return chars == 0 ? 0 : STRING_BYTES + pad(16 + (latin1 ? chars : 2L * chars));
  }

  private static long pad(long bytes) {
    return (bytes + 7) & ~7L;
  }

  /** The budget is spent; the parser turns this into an error with its line. */
  static final class Exceeded extends RuntimeException {
    Exceeded() {
      super(null, null, false, false);
    }
  }
}
