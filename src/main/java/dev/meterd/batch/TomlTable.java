package dev.meterd.batch;

import java.util.Arrays;

/**
 * A TOML table as the parser builds it: keys in document order, each with the line it was
 * defined on, so that validation errors can point at the offending line.
 *
 * <p>Implementation notes. A 16 MiB usage file holds some 100,000 tables, and a hostile one
 * millions (an empty inline table is three bytes), so a table costs only what it holds: 40 bytes
 * empty; keys and values interleaved in one array, allocated at the first key (room for two, or
 * eight under a header) and doubled as needed. The keys' lines are kept in an array only once a
 * key is off the line {@link #expectedLine} predicts, which is where every key of an inline table
 * and every key of a record as meterd writes it stands. Every array is charged to the parse's
 * {@link HeapBudget} before it is allocated. Small tables are searched linearly; a table that
 * grows past {@link #LINEAR_LIMIT} keys gets an open-addressing index of ints, so a hostile file
 * with 200,000 keys costs linear time, not quadratic.
 */
final class TomlTable {

  /** How a table came to exist; TOML's redefinition rules depend on it. */
  enum Kind {
    ROOT,
    /** Created as an intermediate of a header path ({@code [a.b.c]} creates a and b). */
    IMPLICIT,
    /** Defined by a {@code [header]} or a {@code [[header]]} element. */
    HEADER,
    /** Created by a dotted key ({@code a.b = 1} creates a). */
    DOTTED,
    /** An inline table still being parsed. */
    INLINE_OPEN,
    /** A closed inline table: nothing may be added to it. */
    INLINE
  }

  /** The heap an empty table takes: a 12-byte header and seven 4-byte fields, padded to 8. */
  static final int EMPTY_BYTES = 40;
  private static final int LINEAR_LIMIT = 8;
  private static final int FIRST_CAPACITY = 2;
  /**
   * A table under a header is most often a record of four to six keys: room for eight at once
   * spares it two copies (parsing is some 10% faster), at 48 bytes a table more.
   */
  private static final int HEADER_FIRST_CAPACITY = 8;

  Kind kind;
  final int line;
  /** For tables created inside an inline table: that inline table; its closing freezes this one. */
  final TomlTable inlineRoot;

  /** Key i at 2i, its value at 2i + 1; null while the table is empty. */
  private Object[] entries;
  /** The line of each key; null while every key is on its {@link #expectedLine}. */
  private int[] lines;
  /** Once past LINEAR_LIMIT keys: slots holding a key's position + 1 (0 is empty), by hash. */
  private int[] index;
  private int size;

  TomlTable(Kind kind, int line, TomlTable inlineRoot) {
    this.kind = kind;
    this.line = line;
    this.inlineRoot = inlineRoot;
  }

  boolean frozen() {
    return kind == Kind.INLINE || (inlineRoot != null && inlineRoot.kind == Kind.INLINE);
  }

  int size() {
    return size;
  }

  String keyAt(int i) {
    return (String) entries[2 * i];
  }

  Object valueAt(int i) {
    return entries[2 * i + 1];
  }

  Object get(String key) {
    int i = indexOf(key);
    return i < 0 ? null : entries[2 * i + 1];
  }

  /** The line the key was defined on, or the table's own line when the key is absent. */
  int lineOf(String key) {
    int i = indexOf(key);
    return i < 0 ? line : lines == null ? expectedLine(i) : lines[i];
  }

  /**
   * Where the i-th key usually stands: a table under a header has one key a line from the line
   * after its header (the document's root from line 1); any other table, on its own line.
   */
  private int expectedLine(int i) {
    return switch (kind) {
      case ROOT -> line + i;
      case HEADER -> line + 1 + i;
      case IMPLICIT, DOTTED, INLINE_OPEN, INLINE -> line;
    };
  }

  /** An implicit table ({@code a} of {@code [a.b]}) gets its own header {@code [a]}. */
  void defineByHeader(HeapBudget budget) {
    // Its keys so far stand where an implicit table's do, not where a header's would.
    if (lines == null && size > 0) {
      keepLines(budget);
    }
    kind = Kind.HEADER;
  }

  private void keepLines(HeapBudget budget) {
    int capacity = entries.length / 2;
    budget.charge(HeapBudget.intArrayBytes(capacity));
    lines = new int[capacity];
    for (int i = 0; i < size; i++) {
      lines[i] = expectedLine(i);
    }
  }

  /** Adds a key the caller has checked is absent, charging what the table grows by to the budget. */
  void put(String key, Object value, int keyLine, HeapBudget budget) {
    if (entries == null || 2 * size == entries.length) {
      grow(budget);
    }
    if (lines == null && keyLine != expectedLine(size)) {
      keepLines(budget);
    }
    entries[2 * size] = key;
    entries[2 * size + 1] = value;
    if (lines != null) {
      lines[size] = keyLine;
    }
    size++;
    if (index != null) {
      if (2 * size > index.length) {
        rebuildIndex(index.length * 2, budget);
      } else {
        insert(size - 1);
      }
    } else if (size > LINEAR_LIMIT) {
      rebuildIndex(4 * LINEAR_LIMIT, budget);
    }
  }

  private void grow(HeapBudget budget) {
    int first = kind == Kind.HEADER ? HEADER_FIRST_CAPACITY : FIRST_CAPACITY;
    int capacity = entries == null ? first : (int) Math.min(2L * size, Integer.MAX_VALUE / 2 - 8);
    budget.grow(entries == null ? 0 : HeapBudget.referenceArrayBytes(entries.length),
        HeapBudget.referenceArrayBytes(2 * capacity));
    entries = entries == null ? new Object[2 * capacity] : Arrays.copyOf(entries, 2 * capacity);
    if (lines != null) {
      budget.grow(HeapBudget.intArrayBytes(lines.length), HeapBudget.intArrayBytes(capacity));
      lines = Arrays.copyOf(lines, capacity);
    }
  }

  private void rebuildIndex(int slots, HeapBudget budget) {
    budget.grow(index == null ? 0 : HeapBudget.intArrayBytes(index.length), HeapBudget.intArrayBytes(slots));
    index = new int[slots];
    for (int i = 0; i < size; i++) {
      insert(i);
    }
  }

  private void insert(int i) {
    int mask = index.length - 1;
    int slot = spread(keyAt(i).hashCode()) & mask;
    while (index[slot] != 0) {
      slot = (slot + 1) & mask;
    }
    index[slot] = i + 1;
  }

  private int indexOf(String key) {
    if (index != null) {
      int mask = index.length - 1;
      for (int slot = spread(key.hashCode()) & mask; index[slot] != 0; slot = (slot + 1) & mask) {
        int i = index[slot] - 1;
        if (entries[2 * i].equals(key)) {
          return i;
        }
      }
      return -1;
    }
    for (int i = 0; i < size; i++) {
      if (entries[2 * i].equals(key)) {
        return i;
      }
    }
    return -1;
  }

  private static int spread(int hash) {
    return hash ^ (hash >>> 16);
  }
}
