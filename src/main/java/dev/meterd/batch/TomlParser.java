package dev.meterd.batch;

import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.LocalTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;

/**
 * A strict TOML 1.0 parser over decoded text.
 *
 * <p>Implementation notes. meterd reads usage batches with this parser rather than a library
 * because none of the candidates measured here was both strict and fast: tomlj accepts invalid
 * offsets and invalid code points and parses 7,600 to 28,000 records/s; Jackson's TOML module
 * accepts impossible dates and dotted-key redefinitions. A usage file must be TOML first (every
 * document of the toml-test corpus is checked in {@code TomlConformanceTest}), and the parser
 * must not be the bottleneck of a run (see {@code meterd bench parse}).
 *
 * <p>The parser is a single forward pass with no backtracking beyond one token. It never
 * recurses more than {@link #MAX_NESTING} levels (arrays and inline tables), so hostile input
 * cannot exhaust the stack; dotted keys and headers are walked iteratively, and have at most
 * {@link #MAX_KEY_PARTS} parts.
 *
 * <p>Nor can hostile input exhaust the heap: what the tree takes is charged to a {@link
 * HeapBudget} as it is built, and the parse stops when the budget is spent (a {@link
 * TomlLimitException}, as is one record more than the bounds allow, counted as they are read).
 * Repeated bare keys (every record has the same few) are one String each, not one per use.
 *
 * <p>Values: {@link String}, {@link Long}, {@link Double}, {@link Boolean}, {@link
 * OffsetDateTime}, {@link LocalDateTime}, {@link LocalDate}, {@link LocalTime}, {@link
 * TomlArray} and {@link TomlTable}.
 */
final class TomlParser {

  static final int MAX_NESTING = 128;
  static final int MAX_KEY_PARTS = 128;
  /** The top-level key whose array elements are counted against {@link Bounds#maxRecords}. */
  static final String RECORDS = "records";
  private static final int KEY_CACHE_SLOTS = 256;
  private static final int KEY_CACHE_PROBES = 8;

  /**
   * What one document may take.
   *
   * @param maxHeapBytes the heap its tree may take, as {@link HeapBudget} estimates it
   * @param maxRecords the most elements the top-level {@code records} array may have
   * @param recordHeapBytes heap charged for each of those elements beyond its table: what the
   *     caller will build from it
   */
  record Bounds(long maxHeapBytes, int maxRecords, int recordHeapBytes) {
    static final Bounds UNLIMITED = new Bounds(Long.MAX_VALUE, Integer.MAX_VALUE, 0);
  }

  private final char[] s;
  private final int n;
  private int pos;
  private int line = 1;
  private final Bounds bounds;
  private final HeapBudget budget;
  private final TomlTable root = new TomlTable(TomlTable.Kind.ROOT, 1, null);
  /** Bare keys already made into Strings, found again by their characters. */
  private final String[] keyCache = new String[KEY_CACHE_SLOTS];

  TomlParser(char[] text, int length, Bounds bounds) {
    this.s = text;
    this.n = length;
    this.bounds = bounds;
    this.budget = new HeapBudget(bounds.maxHeapBytes());
  }

  /** Parses a whole document. */
  static TomlTable parse(char[] text, int length, Bounds bounds) {
    return new TomlParser(text, length, bounds).document();
  }

  static TomlTable parse(String text) {
    return parse(text.toCharArray(), text.length(), Bounds.UNLIMITED);
  }

  /** The heap the tree built so far takes, as the budget estimates it. */
  long heapBytes() {
    return budget.usedBytes();
  }

  /**
   * Parses an RFC 3339 date-time with an offset (the grammar of a TOML offset date-time), or
   * returns null when the text is not one.
   */
  static OffsetDateTime parseOffsetDateTime(String text) {
    TomlParser p = new TomlParser(text.toCharArray(), text.length(), Bounds.UNLIMITED);
    try {
      Object value = p.dateTime(0, text.length());
      return value instanceof OffsetDateTime odt ? odt : null;
    } catch (TomlSyntaxException e) {
      return null;
    }
  }

  TomlTable document() {
    try {
      return expressions();
    } catch (HeapBudget.Exceeded e) {
      throw new TomlLimitException(TomlLimitException.Limit.HEAP, line);
    }
  }

  private TomlTable expressions() {
    budget.charge(TomlTable.EMPTY_BYTES + HeapBudget.referenceArrayBytes(KEY_CACHE_SLOTS));
    if (n > 0 && s[0] == '\uFEFF') {
      pos = 1;
    }
    TomlTable current = root;
    while (true) {
      skipWhitespace();
      if (pos >= n) {
        return root;
      }
      char c = s[pos];
      if (c == '[') {
        current = header();
      } else if (c != '#' && c != '\n' && c != '\r') {
        keyValue(current, null, 0);
      }
      endOfLine();
    }
  }

  // ---- lines, whitespace, comments

  private void skipWhitespace() {
    while (pos < n && (s[pos] == ' ' || s[pos] == '\t')) {
      pos++;
    }
  }

  /** After an expression: optional whitespace and comment, then a newline or the end. */
  private void endOfLine() {
    skipWhitespace();
    if (pos >= n) {
      return;
    }
    if (s[pos] == '#') {
      comment();
      if (pos >= n) {
        return;
      }
    }
    if (!newline()) {
      throw error("unexpected " + describe(s[pos]) + "; expected a newline or a comment");
    }
  }

  /** Consumes LF or CRLF and counts the line; false when the next character is neither. */
  private boolean newline() {
    char c = s[pos];
    if (c == '\n') {
      pos++;
      line++;
      return true;
    }
    if (c == '\r') {
      if (pos + 1 < n && s[pos + 1] == '\n') {
        pos += 2;
        line++;
        return true;
      }
      throw error("carriage return not followed by a line feed");
    }
    return false;
  }

  private void comment() {
    pos++;
    while (pos < n) {
      char c = s[pos];
      if (c == '\n' || c == '\r') {
        return;
      }
      if (isControl(c)) {
        throw error("control character " + hex(c) + " in a comment");
      }
      pos++;
    }
  }

  /** Inside arrays: whitespace, newlines and comments, in any number. */
  private void skipBlank() {
    while (pos < n) {
      char c = s[pos];
      if (c == ' ' || c == '\t') {
        pos++;
      } else if (c == '#') {
        comment();
      } else if (!newline()) {
        return;
      }
    }
  }

  // ---- keys and tables

  /**
   * The parts of the key just read: one list, filled anew by each {@link #keyPath}, since a
   * record's every key would otherwise cost a list (most of what a file's parse allocated).
   */
  private final List<String> keyParts = new ArrayList<>();

  /**
   * Reads a key, dotted or not. The list returned is {@link #keyParts}: valid until the next
   * key is read, so a caller takes what it needs of it before it parses a value (an inline
   * table's keys would replace it).
   */
  private List<String> keyPath() {
    List<String> keys = keyParts;
    keys.clear();
    keys.add(simpleKey());
    while (true) {
      int save = pos;
      skipWhitespace();
      if (pos < n && s[pos] == '.') {
        if (keys.size() == MAX_KEY_PARTS) {
          throw error("a dotted key or table header has more than " + MAX_KEY_PARTS + " parts");
        }
        pos++;
        skipWhitespace();
        keys.add(simpleKey());
      } else {
        pos = save;
        return keys;
      }
    }
  }

  private String simpleKey() {
    if (pos >= n) {
      throw error("expected a key, found the end of the file");
    }
    char c = s[pos];
    if (c == '"' || c == '\'') {
      if (startsWithTriple(c)) {
        throw error("a key cannot be a multi-line string");
      }
      return c == '"' ? basicString() : literalString();
    }
    int start = pos;
    int hash = 0;
    while (pos < n && isBareKeyChar(s[pos])) {
      hash = 31 * hash + s[pos];
      pos++;
    }
    if (pos == start) {
      throw error("expected a key, found " + describe(c));
    }
    return bareKey(start, pos - start, hash);
  }

  /** The key's String: the one made for an earlier use of the same key, when the cache has it. */
  private String bareKey(int start, int length, int hash) {
    int slot = (hash ^ (hash >>> 16)) & (KEY_CACHE_SLOTS - 1);
    for (int probe = 0; probe < KEY_CACHE_PROBES; probe++) {
      String cached = keyCache[slot];
      if (cached == null) {
        return keyCache[slot] = newString(start, length, true);
      }
      if (sameChars(cached, start, length)) {
        return cached;
      }
      slot = (slot + 1) & (KEY_CACHE_SLOTS - 1);
    }
    return newString(start, length, true);
  }

  private boolean sameChars(String key, int start, int length) {
    if (key.length() != length) {
      return false;
    }
    for (int i = 0; i < length; i++) {
      if (key.charAt(i) != s[start + i]) {
        return false;
      }
    }
    return true;
  }

  private String newString(int start, int length, boolean latin1) {
    if (length == 0) {
      return "";
    }
    budget.charge(HeapBudget.stringBytes(length, latin1));
    return new String(s, start, length);
  }

  /** Appends text to a string being built, checking the moment its builder doubles against the budget. */
  private void append(StringBuilder sb, int start, int length) {
    // Before and after a doubling, both arrays exist: at most three times the length, at two bytes a character.
    budget.checkTransient(6L * ((long) sb.length() + length));
    sb.append(s, start, length);
  }

  private String charged(StringBuilder sb) {
    // The builder and the String it makes exist together for a moment.
    budget.checkTransient(2L * sb.capacity() + HeapBudget.stringBytes(sb.length(), false));
    String result = sb.toString();
    budget.charge(HeapBudget.stringBytes(result.length(), false));
    return result;
  }

  private TomlTable newTable(TomlTable.Kind kind, int atLine, TomlTable inlineRoot) {
    budget.charge(TomlTable.EMPTY_BYTES);
    return new TomlTable(kind, atLine, inlineRoot);
  }

  private TomlArray newArray(boolean ofTables) {
    budget.charge(TomlArray.EMPTY_BYTES);
    return new TomlArray(ofTables);
  }

  /** Counts one more element of the top-level records array, before it is read. */
  private void countRecord(TomlArray records, int atLine) {
    if (records.size() >= bounds.maxRecords()) {
      throw new TomlLimitException(TomlLimitException.Limit.RECORDS, atLine);
    }
    budget.charge(bounds.recordHeapBytes());
  }

  private TomlTable header() {
    int headerLine = line;
    pos++;
    boolean arrayOfTables = pos < n && s[pos] == '[';
    if (arrayOfTables) {
      pos++;
    }
    skipWhitespace();
    List<String> keys = keyPath();
    skipWhitespace();
    if (pos >= n || s[pos] != ']') {
      throw error("expected ']' to close the table header " + dotted(keys));
    }
    pos++;
    if (arrayOfTables) {
      if (pos >= n || s[pos] != ']') {
        throw error("expected ']]' to close the array-of-tables header " + dotted(keys));
      }
      pos++;
    }
    TomlTable parent = root;
    for (int i = 0; i < keys.size() - 1; i++) {
      parent = headerStep(parent, keys.get(i), keys, headerLine);
    }
    String last = keys.get(keys.size() - 1);
    Object existing = parent.get(last);
    if (arrayOfTables) {
      TomlArray array;
      if (existing == null) {
        array = newArray(true);
        parent.put(last, array, headerLine, budget);
      } else if (existing instanceof TomlArray a && a.ofTables) {
        array = a;
      } else {
        throw errorAt(headerLine, "cannot define [[" + dotted(keys) + "]]: the key is already "
            + (existing instanceof TomlArray ? "a static array" : "defined"));
      }
      if (parent == root && last.equals(RECORDS)) {
        countRecord(array, headerLine);
      }
      TomlTable element = newTable(TomlTable.Kind.HEADER, headerLine, null);
      array.add(element, budget);
      return element;
    }
    if (existing == null) {
      TomlTable table = newTable(TomlTable.Kind.HEADER, headerLine, null);
      parent.put(last, table, headerLine, budget);
      return table;
    }
    if (existing instanceof TomlTable t && t.kind == TomlTable.Kind.IMPLICIT) {
      t.defineByHeader(budget);
      return t;
    }
    throw errorAt(headerLine, "table [" + dotted(keys) + "] is defined more than once");
  }

  private TomlTable headerStep(TomlTable parent, String key, List<String> keys, int headerLine) {
    Object existing = parent.get(key);
    if (existing == null) {
      TomlTable table = newTable(TomlTable.Kind.IMPLICIT, headerLine, null);
      parent.put(key, table, headerLine, budget);
      return table;
    }
    if (existing instanceof TomlTable t) {
      if (t.frozen()) {
        throw errorAt(headerLine, "cannot extend inline table '" + key + "' in [" + dotted(keys) + "]");
      }
      return t;
    }
    if (existing instanceof TomlArray a && a.ofTables) {
      return (TomlTable) a.get(a.size() - 1);
    }
    throw errorAt(headerLine, "key '" + key + "' in [" + dotted(keys) + "] is already a value, not a table");
  }

  private void keyValue(TomlTable into, TomlTable inlineRoot, int depth) {
    int keyLine = line;
    List<String> keys = keyPath();
    skipWhitespace();
    if (pos >= n || s[pos] != '=') {
      throw error("expected '=' after the key " + dotted(keys));
    }
    pos++;
    skipWhitespace();
    TomlTable table = into;
    for (int i = 0; i < keys.size() - 1; i++) {
      table = dottedStep(table, keys.get(i), keys, inlineRoot);
    }
    String last = keys.get(keys.size() - 1);
    if (table.get(last) != null) {
      throw error("duplicate key " + dotted(keys));
    }
    boolean records = table == root && keys.size() == 1 && last.equals(RECORDS);
    Object value = records && pos < n && s[pos] == '[' ? array(depth + 1, true) : value(depth);
    table.put(last, value, keyLine, budget);
  }

  private TomlTable dottedStep(TomlTable parent, String key, List<String> keys, TomlTable inlineRoot) {
    Object existing = parent.get(key);
    if (existing == null) {
      TomlTable table = newTable(TomlTable.Kind.DOTTED, line, inlineRoot);
      parent.put(key, table, line, budget);
      return table;
    }
    if (existing instanceof TomlTable t && t.kind == TomlTable.Kind.DOTTED && t.inlineRoot == inlineRoot) {
      return t;
    }
    throw error("dotted key " + dotted(keys) + " cannot add to '" + key
        + "': it is already defined " + (existing instanceof TomlTable ? "as a table elsewhere" : "as a value"));
  }

  // ---- values

  private Object value(int depth) {
    if (pos >= n) {
      throw error("expected a value, found the end of the file");
    }
    char c = s[pos];
    switch (c) {
      case '"':
        return startsWithTriple('"') ? multiLineString('"') : basicString();
      case '\'':
        return startsWithTriple('\'') ? multiLineString('\'') : literalString();
      case '[':
        return array(depth + 1, false);
      case '{':
        return inlineTable(depth + 1);
      case 't':
        word("true");
        return Boolean.TRUE;
      case 'f':
        word("false");
        return Boolean.FALSE;
      default:
        return chargeScalar(scalar());
    }
  }

  /** Charges a boxed number or a date-time to the budget. */
  private Object chargeScalar(Object scalar) {
    budget.charge(scalarBytes(scalar));
    return scalar;
  }

  private static long scalarBytes(Object scalar) {
    if (scalar instanceof Long v) {
      return v >= -128 && v <= 127 ? 0 : HeapBudget.BOX_BYTES;
    } else if (scalar instanceof Double) {
      return HeapBudget.BOX_BYTES;
    } else if (scalar instanceof LocalDate || scalar instanceof LocalTime) {
      return 24;
    } else if (scalar instanceof LocalDateTime) {
      return 72;
    } else if (scalar instanceof OffsetDateTime odt) {
      // ZoneOffset caches the offsets of whole quarter hours; any other is a new object and its id.
      return odt.getOffset().getTotalSeconds() % 900 == 0 ? 96 : 168;
    }
    return 0;
  }

  private void word(String w) {
    if (pos + w.length() > n || !new String(s, pos, w.length()).equals(w)) {
      throw error("expected a value, found " + describe(s[pos]));
    }
    pos += w.length();
  }

  /** An array; when it is the top-level records array, its elements are counted as they come. */
  private TomlArray array(int depth, boolean records) {
    checkDepth(depth);
    int openLine = line;
    pos++;
    TomlArray array = newArray(false);
    while (true) {
      skipBlank();
      if (pos >= n) {
        throw errorAt(openLine, "array is not closed with ']'");
      }
      if (s[pos] == ']') {
        pos++;
        return array;
      }
      if (records) {
        countRecord(array, line);
      }
      array.add(value(depth), budget);
      skipBlank();
      if (pos >= n) {
        throw errorAt(openLine, "array is not closed with ']'");
      }
      if (s[pos] == ',') {
        pos++;
      } else if (s[pos] == ']') {
        pos++;
        return array;
      } else {
        throw error("expected ',' or ']' in an array, found " + describe(s[pos]));
      }
    }
  }

  private TomlTable inlineTable(int depth) {
    checkDepth(depth);
    int openLine = line;
    pos++;
    TomlTable table = newTable(TomlTable.Kind.INLINE_OPEN, openLine, null);
    skipWhitespace();
    if (pos < n && s[pos] == '}') {
      pos++;
      table.kind = TomlTable.Kind.INLINE;
      return table;
    }
    while (true) {
      skipWhitespace();
      keyValue(table, table, depth);
      skipWhitespace();
      if (pos >= n) {
        throw errorAt(openLine, "inline table is not closed with '}'");
      }
      char c = s[pos];
      if (c == ',') {
        pos++;
      } else if (c == '}') {
        pos++;
        table.kind = TomlTable.Kind.INLINE;
        return table;
      } else {
        throw error("expected ',' or '}' in an inline table (which must stay on one line), found "
            + describe(c));
      }
    }
  }

  private void checkDepth(int depth) {
    if (depth > MAX_NESTING) {
      throw error("arrays and inline tables are nested more than " + MAX_NESTING + " deep");
    }
  }

  // ---- strings

  private boolean startsWithTriple(char q) {
    return pos + 2 < n && s[pos] == q && s[pos + 1] == q && s[pos + 2] == q;
  }

  private String basicString() {
    int openLine = line;
    pos++;
    int start = pos;
    StringBuilder sb = null;
    int bits = 0;
    while (true) {
      if (pos >= n) {
        throw errorAt(openLine, "string is not closed with '\"'");
      }
      char c = s[pos];
      // Every character ORed together: below U+0100, the String keeps one byte per character.
      bits |= c;
      if (c == '"') {
        String result;
        if (sb == null) {
          result = newString(start, pos - start, bits < 0x100);
        } else {
          append(sb, start, pos - start);
          result = charged(sb);
        }
        pos++;
        return result;
      }
      if (c == '\\') {
        if (sb == null) {
          sb = new StringBuilder();
        }
        append(sb, start, pos - start);
        escape(sb);
        start = pos;
      } else if (c == '\n' || c == '\r') {
        throw error("string is not closed before the end of the line");
      } else if (isControl(c)) {
        throw error("control character " + hex(c) + " in a string; write it as an escape");
      } else {
        pos++;
      }
    }
  }

  /** A multi-line string: basic ({@code """}, with escapes) or literal ({@code '''}). */
  private String multiLineString(char quote) {
    boolean basic = quote == '"';
    String kind = basic ? "multi-line string" : "multi-line literal string";
    int openLine = line;
    pos += 3;
    skipFirstNewline();
    StringBuilder sb = new StringBuilder();
    int start = pos;
    while (true) {
      if (pos >= n) {
        throw errorAt(openLine, kind + " is not closed with " + String.valueOf(quote).repeat(3));
      }
      char c = s[pos];
      if (c == quote) {
        int quotes = run(quote);
        if (quotes >= 3) {
          if (quotes > 5) {
            throw error("too many quotes at the end of a " + kind);
          }
          append(sb, start, pos - start + quotes - 3);
          pos += quotes;
          return charged(sb);
        }
        pos += quotes;
      } else if (basic && c == '\\') {
        append(sb, start, pos - start);
        if (lineEndingBackslash()) {
          skipWhitespaceAndNewlines();
        } else {
          escape(sb);
        }
        start = pos;
      } else if (c == '\n' || c == '\r') {
        append(sb, start, pos - start);
        newline();
        sb.append('\n');
        start = pos;
      } else if (isControl(c)) {
        throw error("control character " + hex(c) + " in a " + kind);
      } else {
        pos++;
      }
    }
  }

  private String literalString() {
    pos++;
    int start = pos;
    int bits = 0;
    while (true) {
      if (pos >= n) {
        throw error("literal string is not closed with \"'\"");
      }
      char c = s[pos];
      bits |= c;
      if (c == '\'') {
        pos++;
        return newString(start, pos - 1 - start, bits < 0x100);
      }
      if (c == '\n' || c == '\r') {
        throw error("literal string is not closed before the end of the line");
      }
      if (isControl(c)) {
        throw error("control character " + hex(c) + " in a literal string");
      }
      pos++;
    }
  }

  private void skipFirstNewline() {
    if (pos < n && (s[pos] == '\n' || s[pos] == '\r')) {
      newline();
    }
  }

  private int run(char q) {
    int end = pos;
    while (end < n && s[end] == q) {
      end++;
    }
    return end - pos;
  }

  /** A backslash followed by optional whitespace and then a newline. */
  private boolean lineEndingBackslash() {
    int p = pos + 1;
    while (p < n && (s[p] == ' ' || s[p] == '\t')) {
      p++;
    }
    return p < n && (s[p] == '\n' || s[p] == '\r');
  }

  private void skipWhitespaceAndNewlines() {
    pos++;
    while (pos < n) {
      char c = s[pos];
      if (c == ' ' || c == '\t') {
        pos++;
      } else if (!newline()) {
        return;
      }
    }
  }

  private void escape(StringBuilder sb) {
    pos++;
    if (pos >= n) {
      throw error("escape at the end of the file");
    }
    char c = s[pos++];
    switch (c) {
      case 'b' -> sb.append('\b');
      case 't' -> sb.append('\t');
      case 'n' -> sb.append('\n');
      case 'f' -> sb.append('\f');
      case 'r' -> sb.append('\r');
      case '"' -> sb.append('"');
      case '\\' -> sb.append('\\');
      case 'u' -> sb.appendCodePoint(unicodeEscape(4));
      case 'U' -> sb.appendCodePoint(unicodeEscape(8));
      default -> throw error("invalid escape \\" + (isControl(c) ? hex(c) : String.valueOf(c)));
    }
  }

  private int unicodeEscape(int digits) {
    if (pos + digits > n) {
      throw error("unicode escape needs " + digits + " hex digits");
    }
    int cp = 0;
    for (int i = 0; i < digits; i++) {
      int d = Character.digit(s[pos + i], 16);
      if (d < 0) {
        throw error("unicode escape needs " + digits + " hex digits");
      }
      cp = cp * 16 + d;
    }
    if (cp < 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      throw error("unicode escape " + new String(s, pos, digits) + " is not a Unicode scalar value");
    }
    pos += digits;
    return cp;
  }

  // ---- numbers and date-times

  private Object scalar() {
    int start = pos;
    while (pos < n && isTokenChar(s[pos])) {
      pos++;
    }
    if (pos == start) {
      throw error("expected a value, found " + describe(s[start]));
    }
    // A local date may be followed by a space and a time: "1979-05-27 07:32:00Z".
    if (pos - start == 10 && looksLikeDate(start) && pos + 1 < n && s[pos] == ' ' && isDigit(s[pos + 1])) {
      pos++;
      while (pos < n && isTokenChar(s[pos])) {
        pos++;
      }
    }
    if (looksLikeDate(start)) {
      return dateTime(start, pos);
    }
    if (pos - start >= 3 && isDigit(s[start]) && isDigit(s[start + 1]) && s[start + 2] == ':') {
      LocalTime time = localTime(start, pos);
      return time;
    }
    return number(start, pos);
  }

  private boolean looksLikeDate(int start) {
    return start + 4 < n && isDigit(s[start]) && isDigit(s[start + 1]) && isDigit(s[start + 2])
        && isDigit(s[start + 3]) && s[start + 4] == '-';
  }

  private Object dateTime(int start, int end) {
    if (end - start < 10 || s[start + 7] != '-') {
      throw errorToken(start, end, "invalid date");
    }
    int year = digits(start, 4, start, end);
    int month = digits(start + 5, 2, start, end);
    int day = digits(start + 8, 2, start, end);
    if (month < 1 || month > 12 || day < 1 || day > LocalDate.of(year, month, 1).lengthOfMonth()) {
      throw errorToken(start, end, "invalid date");
    }
    LocalDate date = LocalDate.of(year, month, day);
    int p = start + 10;
    if (p == end) {
      return date;
    }
    char sep = s[p];
    if (sep != 'T' && sep != 't' && sep != ' ') {
      throw errorToken(start, end, "invalid date-time");
    }
    int timeEnd = timeEnd(p + 1, end);
    LocalTime time = localTime(p + 1, timeEnd);
    LocalDateTime local = LocalDateTime.of(date, time);
    if (timeEnd == end) {
      return local;
    }
    char o = s[timeEnd];
    if ((o == 'Z' || o == 'z') && timeEnd + 1 == end) {
      return OffsetDateTime.of(local, ZoneOffset.UTC);
    }
    if ((o == '+' || o == '-') && timeEnd + 6 == end && s[timeEnd + 3] == ':') {
      int hours = digits(timeEnd + 1, 2, start, end);
      int minutes = digits(timeEnd + 4, 2, start, end);
      if (hours > 23 || minutes > 59) {
        throw errorToken(start, end, "invalid offset");
      }
      int seconds = (hours * 3600 + minutes * 60) * (o == '-' ? -1 : 1);
      if (Math.abs(seconds) > 18 * 3600) {
        throw errorToken(start, end, "offset out of range");
      }
      return OffsetDateTime.of(local, ZoneOffset.ofTotalSeconds(seconds));
    }
    throw errorToken(start, end, "invalid date-time offset");
  }

  /** Where a time (HH:MM:SS with an optional fraction) that starts at p ends. */
  private int timeEnd(int p, int end) {
    int q = p + 8;
    if (q > end) {
      return end;
    }
    if (q < end && s[q] == '.') {
      q++;
      while (q < end && isDigit(s[q])) {
        q++;
      }
    }
    return q;
  }

  private LocalTime localTime(int start, int end) {
    if (end - start < 8 || s[start + 2] != ':' || s[start + 5] != ':') {
      throw errorToken(start, end, "invalid time (TOML needs HH:MM:SS)");
    }
    int hour = digits(start, 2, start, end);
    int minute = digits(start + 3, 2, start, end);
    int second = digits(start + 6, 2, start, end);
    if (hour > 23 || minute > 59 || second > 59) {
      throw errorToken(start, end, "invalid time");
    }
    int nanos = 0;
    int p = start + 8;
    if (p < end) {
      if (s[p] != '.' || p + 1 >= end) {
        throw errorToken(start, end, "invalid time");
      }
      p++;
      int scale = 100_000_000;
      for (; p < end; p++) {
        if (!isDigit(s[p])) {
          throw errorToken(start, end, "invalid time");
        }
        nanos += (s[p] - '0') * scale;
        scale /= 10;
      }
    }
    return LocalTime.of(hour, minute, second, nanos);
  }

  private int digits(int p, int count, int tokenStart, int tokenEnd) {
    if (p + count > tokenEnd) {
      throw errorToken(tokenStart, tokenEnd, "invalid date or time");
    }
    int v = 0;
    for (int i = p; i < p + count; i++) {
      if (!isDigit(s[i])) {
        throw errorToken(tokenStart, tokenEnd, "invalid date or time");
      }
      v = v * 10 + (s[i] - '0');
    }
    return v;
  }

  private Object number(int start, int end) {
    int p = start;
    boolean negative = false;
    boolean signed = s[p] == '+' || s[p] == '-';
    if (signed) {
      negative = s[p] == '-';
      p++;
    }
    int len = end - p;
    if (len == 3 && s[p] == 'i' && s[p + 1] == 'n' && s[p + 2] == 'f') {
      return negative ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY;
    }
    if (len == 3 && s[p] == 'n' && s[p + 1] == 'a' && s[p + 2] == 'n') {
      return Double.NaN;
    }
    if (len >= 2 && s[p] == '0' && (s[p + 1] == 'x' || s[p + 1] == 'o' || s[p + 1] == 'b')) {
      if (signed) {
        throw errorToken(start, end, "a hexadecimal, octal or binary integer cannot have a sign");
      }
      int radix = s[p + 1] == 'x' ? 16 : s[p + 1] == 'o' ? 8 : 2;
      return radixInteger(start, p + 2, end, radix);
    }
    int intEnd = digitRun(p, end, start);
    if (intEnd - p > 1 && s[p] == '0') {
      throw errorToken(start, end, "leading zeros are not allowed");
    }
    if (intEnd == end) {
      return decimalInteger(start, p, end, negative);
    }
    return decimalFloat(start, intEnd, end);
  }

  /** The end of a run of decimal digits with single underscores between digits. */
  private int digitRun(int p, int end, int tokenStart) {
    int q = p;
    if (q >= end || !isDigit(s[q])) {
      throw errorToken(tokenStart, end, "invalid number");
    }
    while (q < end) {
      char c = s[q];
      if (isDigit(c)) {
        q++;
      } else if (c == '_' && q + 1 < end && isDigit(s[q + 1])) {
        q += 2;
      } else if (c == '_') {
        throw errorToken(tokenStart, end, "an underscore in a number must stand between two digits");
      } else {
        break;
      }
    }
    return q;
  }

  private Long decimalInteger(int start, int p, int end, boolean negative) {
    // Accumulate negatively so that Long.MIN_VALUE is representable.
    long value = 0;
    for (int i = p; i < end; i++) {
      char c = s[i];
      if (c == '_') {
        continue;
      }
      int d = c - '0';
      if (value < (Long.MIN_VALUE + d) / 10) {
        throw errorToken(start, end, "integer is out of the 64-bit range");
      }
      value = value * 10 - d;
    }
    if (!negative) {
      if (value == Long.MIN_VALUE) {
        throw errorToken(start, end, "integer is out of the 64-bit range");
      }
      value = -value;
    }
    return value;
  }

  private Long radixInteger(int start, int p, int end, int radix) {
    if (p >= end) {
      throw errorToken(start, end, "invalid number");
    }
    long value = 0;
    boolean lastWasDigit = false;
    for (int i = p; i < end; i++) {
      char c = s[i];
      if (c == '_') {
        if (!lastWasDigit || i + 1 >= end) {
          throw errorToken(start, end, "an underscore in a number must stand between two digits");
        }
        lastWasDigit = false;
        continue;
      }
      int d = Character.digit(c, radix);
      if (d < 0 || c > 'z') {
        throw errorToken(start, end, "invalid digit in a base-" + radix + " integer");
      }
      if (value > (Long.MAX_VALUE - d) / radix) {
        throw errorToken(start, end, "integer is out of the 64-bit range");
      }
      value = value * radix + d;
      lastWasDigit = true;
    }
    return value;
  }

  private Double decimalFloat(int start, int intEnd, int end) {
    int p = intEnd;
    if (s[p] == '.') {
      p = digitRun(p + 1, end, start);
    }
    if (p < end && (s[p] == 'e' || s[p] == 'E')) {
      p++;
      if (p < end && (s[p] == '+' || s[p] == '-')) {
        p++;
      }
      p = digitRun(p, end, start);
    }
    if (p != end) {
      throw errorToken(start, end, "invalid number");
    }
    // The digits are copied twice (here and inside parseDouble) before the copies are garbage.
    budget.checkTransient(6L * (end - start));
    StringBuilder sb = new StringBuilder(end - start);
    for (int i = start; i < end; i++) {
      if (s[i] != '_') {
        sb.append(s[i]);
      }
    }
    return Double.parseDouble(sb.toString());
  }

  // ---- character classes and errors

  static boolean isControl(char c) {
    return (c < 0x20 && c != '\t') || c == 0x7F;
  }

  private static boolean isDigit(char c) {
    return c >= '0' && c <= '9';
  }

  private static boolean isBareKeyChar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || isDigit(c) || c == '_' || c == '-';
  }

  private static boolean isTokenChar(char c) {
    return isBareKeyChar(c) || c == '+' || c == '.' || c == ':';
  }

  private static String hex(char c) {
    return String.format("U+%04X", (int) c);
  }

  private static String describe(char c) {
    if (c == '\n' || c == '\r') {
      return "the end of the line";
    }
    if (isControl(c) || Character.isWhitespace(c)) {
      return "character " + hex(c);
    }
    return "'" + c + "'";
  }

  private static String dotted(List<String> keys) {
    return String.join(".", keys);
  }

  private TomlSyntaxException error(String message) {
    return new TomlSyntaxException(line, message);
  }

  private TomlSyntaxException errorAt(int atLine, String message) {
    return new TomlSyntaxException(atLine, message);
  }

  private TomlSyntaxException errorToken(int start, int end, String message) {
    String token = new String(s, start, Math.min(end - start, 64));
    return new TomlSyntaxException(line, message + ": " + token);
  }
}
