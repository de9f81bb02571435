package dev.meterd.batch;

import java.util.Arrays;

/**
 * A TOML array; {@code ofTables} marks one built by {@code [[header]]}s, which may grow.
 *
 * <p>It costs only what it holds: 24 bytes empty, and an array of references allocated at the
 * first element and doubled as needed, each allocation charged to the parse's budget first.
 */
final class TomlArray {

  /** The heap an empty array takes: a 12-byte header, a reference, an int and a boolean, padded. */
  static final int EMPTY_BYTES = 24;
  private static final int FIRST_CAPACITY = 2;

  final boolean ofTables;
  private Object[] items;
  private int size;

  TomlArray(boolean ofTables) {
    this.ofTables = ofTables;
  }

  int size() {
    return size;
  }

  Object get(int i) {
    if (i < 0 || i >= size) {
      throw new IndexOutOfBoundsException("index " + i + " of an array of " + size);
    }
    return items[i];
  }

  void add(Object value, HeapBudget budget) {
    if (items == null || size == items.length) {
      int capacity = items == null ? FIRST_CAPACITY : (int) Math.min(2L * items.length, Integer.MAX_VALUE - 8);
      budget.grow(items == null ? 0 : HeapBudget.referenceArrayBytes(items.length),
          HeapBudget.referenceArrayBytes(capacity));
      items = items == null ? new Object[capacity] : Arrays.copyOf(items, capacity);
    }
    items[size++] = value;
  }
}
