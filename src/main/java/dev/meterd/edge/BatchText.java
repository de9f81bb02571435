package dev.meterd.edge;

import dev.meterd.batch.WireFormat;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.function.Consumer;

/** Batch files as text, in the wire format: names, the header and one record's block. */
public final class BatchText {

  private static final DateTimeFormatter HOUR = DateTimeFormatter.ofPattern("yyyy-MM-dd-HH").withZone(ZoneOffset.UTC);
  /** The first line of every record block: the header of its table. */
  static final String BLOCK_START = "\n[[records]]\n";
  /** The key every block this writer writes ends with, so that a complete file ends with it. */
  static final String LAST_KEY = "occurred_at = ";

  private BatchText() {}

  /** The repository path of a node's file for the UTC hour of {@code at}. */
  public static String path(String node, Instant at) {
    return path(node, hour(at), 0);
  }

  /**
   * The repository path of a node's file for an hour: {@code usage_<hour>.toml} for part 0, and
   * {@code usage_<hour>.<part>.toml} for the files the hour goes on in once a file is full.
   */
  public static String path(String node, String hour, long part) {
    return WireFormat.NODES_DIR + "/" + node + "/usage_" + hour + (part == 0 ? "" : "." + part) + ".toml";
  }

  /** The UTC hour of {@code at} as file names spell it: {@code YYYY-MM-DD-HH}. */
  public static String hour(Instant at) {
    return HOUR.format(at);
  }

  public static String header(String node) {
    return "schema = 1\nnode = " + quoted(node) + "\n";
  }

  /** Appends one record's block; {@code occurred_at} is its last line. */
  public static StringBuilder record(StringBuilder sb, String key, String user, long costCents, Instant at,
      String resource, Long quantity) {
    sb.append(BLOCK_START).append("idempotency_key = ").append(quoted(key))
        .append("\nuser_sid = ").append(quoted(user))
        .append("\ncost_cents = ").append(costCents);
    if (resource != null) {
      sb.append("\nresource = ").append(quoted(resource));
    }
    if (quantity != null) {
      sb.append("\nquantity = ").append(quantity);
    }
    return sb.append('\n').append(LAST_KEY).append(at).append('\n');
  }

  /** A TOML basic string: quotes, backslashes and control characters escaped. */
  static String quoted(String s) {
    StringBuilder q = new StringBuilder(s.length() + 2).append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> q.append("\\\"");
        case '\\' -> q.append("\\\\");
        case '\n' -> q.append("\\n");
        case '\t' -> q.append("\\t");
        case '\r' -> q.append("\\r");
        default -> {
          if (c < 0x20 || c == 0x7f) {
            q.append(String.format("\\u%04X", (int) c));
          } else {
            q.append(c);
          }
        }
      }
    }
    return q.append('"').toString();
  }

  /**
   * One complete record block read back from a file in this layout: its key and its user as they
   * are written ({@link #quoted}), and its cost.
   */
  record Block(String quotedKey, String quotedUser, long costCents) {}

  /**
   * Reads back the record blocks of a file written in this layout, without the TOML parser, and
   * hands each to {@code each}, in order. Returns how many there were, or -1 as soon as the text
   * turns out not to be in this layout (another tool wrote it, or a write was cut short): the
   * caller then asks the reader's parser, and {@code each} may have seen some of the blocks.
   */
  static int forEachBlock(String text, String node, Consumer<Block> each) {
    String header = header(node);
    if (!text.startsWith(header)) {
      return -1;
    }
    int count = 0;
    for (int pos = header.length(); pos < text.length(); count++) {
      if (!text.startsWith(BLOCK_START, pos)) {
        return -1;
      }
      int start = pos + BLOCK_START.length();
      int next = text.indexOf(BLOCK_START, start);
      int end = next < 0 ? text.length() : next;
      Block block = new BlockReader(text, start, end).block();
      if (block == null) {
        return -1;
      }
      each.accept(block);
      pos = end;
    }
    return count;
  }

  /** Whether the text's last line is a block's last line, as every write of a record ends. */
  static boolean endsWithLastKey(String text) {
    if (!text.endsWith("\n")) {
      return false;
    }
    int start = text.lastIndexOf('\n', text.length() - 2) + 1;
    return text.startsWith(LAST_KEY, start);
  }

  /** The lines of one block, exactly as {@link #record} writes them, or null. */
  private static final class BlockReader {
    private final String text;
    private final int end;
    private int pos;

    BlockReader(String text, int start, int end) {
      this.text = text;
      this.pos = start;
      this.end = end;
    }

    Block block() {
      String key = quotedValue("idempotency_key = ");
      String user = key == null ? null : quotedValue("user_sid = ");
      String cost = user == null ? null : value("cost_cents = ");
      if (cost == null || !isCanonicalInteger(cost)) {
        return null;
      }
      if (text.startsWith("resource = ", pos) && quotedValue("resource = ") == null) {
        return null;
      }
      if (text.startsWith("quantity = ", pos) && !isCanonicalInteger(value("quantity = "))) {
        return null;
      }
      String at = value(LAST_KEY);
      return at == null || at.isEmpty() || pos != end ? null : new Block(key, user, Long.parseLong(cost));
    }

    /** The rest of the line after {@code name}, moving to the next line; null when the line is another. */
    private String value(String name) {
      int lineEnd = text.indexOf('\n', pos);
      if (!text.startsWith(name, pos) || lineEnd < 0 || lineEnd >= end) {
        return null;
      }
      String v = text.substring(pos + name.length(), lineEnd);
      pos = lineEnd + 1;
      return v;
    }

    private String quotedValue(String name) {
      String v = value(name);
      return v != null && isQuoted(v) ? v : null;
    }
  }

  private static boolean isCanonicalInteger(String v) {
    if (v == null || v.isEmpty() || v.length() > 18 || (v.length() > 1 && v.charAt(0) == '0')) {
      return false;
    }
    for (int i = 0; i < v.length(); i++) {
      if (v.charAt(i) < '0' || v.charAt(i) > '9') {
        return false;
      }
    }
    return true;
  }

  /**
   * Whether {@code v} is exactly what {@link #quoted} makes of some string: then two values are
   * the same string exactly when their quoted forms are equal, and nothing needs unescaping.
   */
  static boolean isQuoted(String v) {
    if (v.length() < 2 || v.charAt(0) != '"' || v.charAt(v.length() - 1) != '"') {
      return false;
    }
    for (int i = 1; i < v.length() - 1; i++) {
      char c = v.charAt(i);
      if (c == '"' || c < 0x20 || c == 0x7f) {
        return false;
      }
      if (c == '\\') {
        int escape = escapeLength(v, i + 1, v.length() - 1);
        if (escape == 0) {
          return false;
        }
        i += escape;
      }
    }
    return true;
  }

  /** The length of the escape after a backslash at {@code from}, as {@link #quoted} writes one, or 0. */
  private static int escapeLength(String v, int from, int to) {
    if (from >= to) {
      return 0;
    }
    char e = v.charAt(from);
    if (e == '"' || e == '\\' || e == 'n' || e == 't' || e == 'r') {
      return 1;
    }
    if (e != 'u' || from + 5 > to) {
      return 0;
    }
    String hex = v.substring(from + 1, from + 5);
    if (!hex.matches("[0-9A-F]{4}")) {
      return 0;
    }
    int c = Integer.parseInt(hex, 16);
    boolean written = (c < 0x20 || c == 0x7f) && c != '\n' && c != '\t' && c != '\r';
    return written ? 5 : 0;
  }
}
