package dev.meterd.batch;

import java.util.HashMap;

/**
 * A TOML table as the parser builds it: keys in document order, each with the line it was
 * defined on, so that validation errors can point at the offending line.
 *
 * <p>Small tables (every usage record) are searched linearly; a table that grows past
 * {@link #LINEAR_LIMIT} keys gets a hash index, so a hostile file with 200,000 keys costs
 * linear time, not quadratic.
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

  private static final int LINEAR_LIMIT = 8;

  Kind kind;
  final int line;
  /** For tables created inside an inline table: that inline table; its closing freezes this one. */
  final TomlTable inlineRoot;

  private String[] keys = new String[LINEAR_LIMIT];
  private Object[] values = new Object[LINEAR_LIMIT];
  private int[] lines = new int[LINEAR_LIMIT];
  private int size;
  private HashMap<String, Integer> index;

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
    return keys[i];
  }

  Object valueAt(int i) {
    return values[i];
  }

  Object get(String key) {
    int i = indexOf(key);
    return i < 0 ? null : values[i];
  }

  /** The line the key was defined on, or the table's own line when the key is absent. */
  int lineOf(String key) {
    int i = indexOf(key);
    return i < 0 ? line : lines[i];
  }

  /** Adds a key the caller has checked is absent. */
  void put(String key, Object value, int keyLine) {
    if (size == keys.length) {
      int capacity = size * 2;
      keys = java.util.Arrays.copyOf(keys, capacity);
      values = java.util.Arrays.copyOf(values, capacity);
      lines = java.util.Arrays.copyOf(lines, capacity);
    }
    keys[size] = key;
    values[size] = value;
    lines[size] = keyLine;
    if (index != null) {
      index.put(key, size);
    } else if (size + 1 > LINEAR_LIMIT) {
      index = new HashMap<>();
      for (int i = 0; i <= size; i++) {
        index.put(keys[i], i);
      }
    }
    size++;
  }

  private int indexOf(String key) {
    if (index != null) {
      Integer i = index.get(key);
      return i == null ? -1 : i;
    }
    for (int i = 0; i < size; i++) {
      if (keys[i].equals(key)) {
        return i;
      }
    }
    return -1;
  }
}
