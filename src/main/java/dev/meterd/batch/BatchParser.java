package dev.meterd.batch;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;

/**
 * Turns a batch file's bytes into validated records, by every rule of the wire format.
 *
 * <p>Each rejection is a {@link BatchContentException} naming the file and, where known, the
 * line. The parser is pure and thread-safe: it keeps no state between files.
 */
public final class BatchParser {

  public static final long MAX_COST_CENTS = 1_000_000_000_000L;
  public static final int MAX_TEXT_CHARS = 200;
  public static final int SCHEMA_VERSION = 1;

  /**
   * Heap the parsed tree and the records of one file may take, per byte of the size limit; a
   * file that would take more is a content error. A typical 16 MiB file takes about a third of
   * it (see {@code ParserHeapProbe}); only files of tiny tables, arrays or values reach it.
   */
  public static final int TREE_BYTES_PER_FILE_BYTE = 8;

  /**
   * Heap that parsing one file may take, per byte of the size limit: the file's bytes (1), its
   * characters (2), the tree and records ({@link #TREE_BYTES_PER_FILE_BYTE}), and 1 for what
   * the parser's estimate leaves out (the last copy of a growing array, a garbage collector that
   * cannot use every free byte). Measured with {@code ParserHeapProbe}: of the worst 16 MiB files
   * known (tiny tables, arrays or strings, refused at the budget), none needs more than 184 MiB of
   * heap, 11.5 bytes per byte; a file of typical records needs 99 MiB.
   */
  public static final int HEAP_BYTES_PER_FILE_BYTE = 3 + TREE_BYTES_PER_FILE_BYTE + 1;

  /**
   * The heap budget of a file under a small size limit: a few records take more heap per byte
   * than a full file (each record's fixed cost weighs more), and 8 MiB is nothing to the heap, so
   * a small limit never turns an honest file into a heap error.
   */
  static final long MIN_TREE_HEAP_BYTES = 8L << 20;

  /**
   * What validation builds for each record beyond the tree: the record (48 bytes), its instant
   * (24), a boxed quantity (24) and its slot in the list (4), rounded up.
   */
  private static final int RECORD_HEAP_BYTES = 104;

  /**
   * Bounds on one file.
   *
   * @param maxFileBytes a larger file is a content error (the wire format's default is 16 MiB)
   * @param maxRecordsPerFile a file with more records is a content error
   */
  public record Limits(long maxFileBytes, int maxRecordsPerFile) {

    /** The wire format's default file limit, 16 MiB; a constant so that option defaults can name it. */
    public static final long DEFAULT_MAX_FILE_BYTES = 16L * 1024 * 1024;
    public static final int DEFAULT_MAX_RECORDS_PER_FILE = 200_000;
    public static final Limits DEFAULT = new Limits(DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_RECORDS_PER_FILE);
    /** The largest file limit: a file's bytes must fit in one array. */
    public static final long MAX_FILE_BYTES = Integer.MAX_VALUE - 16;

    public Limits {
      if (maxFileBytes < 1 || maxFileBytes > MAX_FILE_BYTES) {
        throw new IllegalArgumentException("maxFileBytes must be 1 to 2 GiB, got " + maxFileBytes);
      }
      if (maxRecordsPerFile < 1) {
        throw new IllegalArgumentException("maxRecordsPerFile must be >= 1, got " + maxRecordsPerFile);
      }
    }
  }

  private final Limits limits;
  private final TomlParser.Bounds bounds;

  public BatchParser(Limits limits) {
    this.limits = limits;
    this.bounds = new TomlParser.Bounds(Math.max(TREE_BYTES_PER_FILE_BYTE * limits.maxFileBytes(), MIN_TREE_HEAP_BYTES),
        limits.maxRecordsPerFile(), RECORD_HEAP_BYTES);
  }

  public Limits limits() {
    return limits;
  }

  /** Rejects a file by its size before its bytes are read. */
  public void checkSize(String path, long sizeBytes) throws BatchContentException {
    if (sizeBytes > limits.maxFileBytes()) {
      throw new BatchContentException(path, 0, "file is " + sizeBytes + " bytes, over the limit of "
          + limits.maxFileBytes() + " bytes");
    }
  }

  /**
   * Parses and validates one batch file.
   *
   * @param path the file's path in the repository, for messages
   * @param node the node folder the file is in; a {@code node} key must equal it
   * @param content the file's bytes
   */
  public UsageBatch parse(String path, String node, byte[] content) throws BatchContentException {
    checkSize(path, content.length);
    CharBuffer text = decode(path, content);
    TomlTable doc;
    try {
      doc = TomlParser.parse(text.array(), text.limit(), bounds);
    } catch (TomlSyntaxException e) {
      throw new BatchContentException(path, e.line, "not valid TOML: " + e.getMessage());
    } catch (TomlLimitException e) {
      throw new BatchContentException(path, e.line, switch (e.limit) {
        case RECORDS -> "record " + (limits.maxRecordsPerFile() + 1L) + " is over the limit of "
            + limits.maxRecordsPerFile() + " records per file";
        case HEAP -> "file would take more than " + bounds.maxHeapBytes() + " bytes of heap to parse ("
            + TREE_BYTES_PER_FILE_BYTE + " bytes for each byte of the size limit): it holds too many small "
            + "tables, arrays or values";
      });
    }
    return new Validation(path, doc).batch(node);
  }

  /**
   * Checks that a file's bytes are UTF-8 and TOML, by syntax only: no limit and no rule of the
   * wire format applies, so a complete file that a reader would refuse for its content passes.
   * Writers use it to tell a file cut short mid-write from one they must leave alone.
   */
  public static void checkSyntax(String path, byte[] content) throws BatchContentException {
    CharBuffer text = decode(path, content);
    try {
      TomlParser.parse(text.array(), text.limit(), TomlParser.Bounds.UNLIMITED);
    } catch (TomlSyntaxException e) {
      throw new BatchContentException(path, e.line, "not valid TOML: " + e.getMessage());
    }
  }

  private static CharBuffer decode(String path, byte[] content) throws BatchContentException {
    CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
        .onMalformedInput(CodingErrorAction.REPORT)
        .onUnmappableCharacter(CodingErrorAction.REPORT);
    ByteBuffer in = ByteBuffer.wrap(content);
    CharBuffer out = CharBuffer.allocate(content.length);
    CoderResult result = decoder.decode(in, out, true);
    if (!result.isError()) {
      result = decoder.flush(out);
    }
    if (result.isError()) {
      int line = 1;
      for (int i = 0; i < in.position(); i++) {
        if (content[i] == '\n') {
          line++;
        }
      }
      throw new BatchContentException(path, line, "not valid UTF-8 at byte " + in.position());
    }
    out.flip();
    return out;
  }

  /** The wire format's rules over a parsed document. */
  private final class Validation {
    private final String path;
    private final TomlTable doc;

    Validation(String path, TomlTable doc) {
      this.path = path;
      this.doc = doc;
    }

    UsageBatch batch(String node) throws BatchContentException {
      Object schema = doc.get("schema");
      if (schema != null) {
        if (!(schema instanceof Long version)) {
          throw fail(doc.lineOf("schema"), "schema must be an integer, got " + typeName(schema));
        }
        if (version != SCHEMA_VERSION) {
          throw fail(doc.lineOf("schema"), "schema must be 1, got " + version
              + " (this meterd reads wire format version 1)");
        }
      }
      Object declared = doc.get("node");
      if (declared != null) {
        if (!(declared instanceof String name)) {
          throw fail(doc.lineOf("node"), "node must be a string, got " + typeName(declared));
        }
        if (!name.equals(node)) {
          throw fail(doc.lineOf("node"), "node is \"" + name + "\" but the file is in the folder of node \""
              + node + "\"");
        }
      }
      Object records = doc.get(TomlParser.RECORDS);
      if (records == null) {
        return new UsageBatch(path, List.of());
      }
      if (!(records instanceof TomlArray array)) {
        throw fail(doc.lineOf(TomlParser.RECORDS), "records must be an array of tables, got " + typeName(records));
      }
      // The parser has counted the records against the limit as it read them.
      List<UsageRecord> result = new ArrayList<>(array.size());
      for (int i = 0; i < array.size(); i++) {
        Object element = array.get(i);
        if (!(element instanceof TomlTable table)) {
          throw fail(doc.lineOf(TomlParser.RECORDS), "records[" + i + "] must be a table, got " + typeName(element));
        }
        result.add(record(table));
      }
      return new UsageBatch(path, result);
    }

    private UsageRecord record(TomlTable r) throws BatchContentException {
      String key = text(r, "idempotency_key", true, 1);
      String user = text(r, "user_sid", true, 1);
      long cost = integer(r, "cost_cents", true);
      if (cost < 0) {
        throw fail(r.lineOf("cost_cents"), "cost_cents must be >= 0, got " + cost);
      }
      if (cost > MAX_COST_CENTS) {
        throw fail(r.lineOf("cost_cents"), "cost_cents must be <= " + MAX_COST_CENTS + ", got " + cost);
      }
      OffsetDateTime occurredAt = occurredAt(r);
      String resource = r.get("resource") == null ? null : text(r, "resource", false, 0);
      Long quantity = null;
      if (r.get("quantity") != null) {
        quantity = integer(r, "quantity", false);
        if (quantity < 0) {
          throw fail(r.lineOf("quantity"), "quantity must be >= 0, got " + quantity);
        }
      }
      return new UsageRecord(key, user, cost, occurredAt.toInstant(), resource, quantity, r.line);
    }

    private String text(TomlTable r, String key, boolean strict, int minChars) throws BatchContentException {
      Object value = r.get(key);
      if (value == null) {
        throw fail(r.line, "record is missing " + key);
      }
      if (!(value instanceof String s)) {
        throw fail(r.lineOf(key), key + " must be a string, got " + typeName(value));
      }
      int chars = s.codePointCount(0, s.length());
      if (chars < minChars || chars > MAX_TEXT_CHARS) {
        throw fail(r.lineOf(key), key + " must be " + minChars + " to " + MAX_TEXT_CHARS
            + " characters, got " + chars);
      }
      if (strict) {
        for (int i = 0; i < s.length(); i++) {
          if (Character.getType(s.charAt(i)) == Character.CONTROL) {
            throw fail(r.lineOf(key), key + " must not contain control characters, found "
                + String.format("U+%04X", (int) s.charAt(i)));
          }
        }
      } else if (s.indexOf('\u0000') >= 0) {
        // PostgreSQL's text cannot hold U+0000: refused here, on either engine, the record is a
        // content error of its node rather than a commit that fails for the node's whole group.
        throw fail(r.lineOf(key), key + " must not contain U+0000, which the ledger cannot store");
      }
      return s;
    }

    private long integer(TomlTable r, String key, boolean required) throws BatchContentException {
      Object value = r.get(key);
      if (value == null && required) {
        throw fail(r.line, "record is missing " + key);
      }
      if (!(value instanceof Long v)) {
        throw fail(r.lineOf(key), key + " must be an integer, got " + typeName(value));
      }
      return v;
    }

    private OffsetDateTime occurredAt(TomlTable r) throws BatchContentException {
      OffsetDateTime at = anyOccurredAt(r);
      // The ledger counts spend per UTC day and month, written YYYY-MM-DD: a moment whose UTC year
      // has not four digits has no such day.
      int utcYear = at.withOffsetSameInstant(java.time.ZoneOffset.UTC).getYear();
      if (utcYear < 1 || utcYear > 9999) {
        throw fail(r.lineOf("occurred_at"), "occurred_at must fall in the years 0001 to 9999 in UTC, got " + at);
      }
      return at;
    }

    private OffsetDateTime anyOccurredAt(TomlTable r) throws BatchContentException {
      Object value = r.get("occurred_at");
      if (value == null) {
        throw fail(r.line, "record is missing occurred_at");
      }
      if (value instanceof OffsetDateTime odt) {
        return odt;
      }
      if (value instanceof String s) {
        OffsetDateTime parsed = TomlParser.parseOffsetDateTime(s);
        if (parsed != null) {
          return parsed;
        }
        throw fail(r.lineOf("occurred_at"), "occurred_at must be an RFC 3339 date-time with an offset, got \""
            + (s.length() > 64 ? s.substring(0, 64) + "..." : s) + "\"");
      }
      throw fail(r.lineOf("occurred_at"), "occurred_at must be an offset date-time, got " + typeName(value));
    }

    private BatchContentException fail(int line, String error) {
      return new BatchContentException(path, line, error);
    }
  }

  static String typeName(Object value) {
    if (value instanceof String) {
      return "a string";
    } else if (value instanceof Long) {
      return "an integer";
    } else if (value instanceof Double) {
      return "a float";
    } else if (value instanceof Boolean) {
      return "a boolean";
    } else if (value instanceof OffsetDateTime) {
      return "an offset date-time";
    } else if (value instanceof java.time.LocalDateTime) {
      return "a local date-time (no offset)";
    } else if (value instanceof java.time.LocalDate) {
      return "a local date";
    } else if (value instanceof java.time.LocalTime) {
      return "a local time";
    } else if (value instanceof TomlArray) {
      return "an array";
    } else if (value instanceof TomlTable) {
      return "a table";
    }
    return "nothing";
  }
}
