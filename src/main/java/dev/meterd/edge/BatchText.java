package dev.meterd.edge;

import dev.meterd.batch.WireFormat;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;

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
    return WireFormat.NODES_DIR + "/" + node + "/usage_" + HOUR.format(at) + ".toml";
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
}
