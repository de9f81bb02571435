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
 * cannot exhaust the stack; dotted keys and headers of any length are walked iteratively.
 *
 * <p>Values: {@link String}, {@link Long}, {@link Double}, {@link Boolean}, {@link
 * OffsetDateTime}, {@link LocalDateTime}, {@link LocalDate}, {@link LocalTime}, {@link
 * TomlArray} and {@link TomlTable}.
 */
final class TomlParser {

  static final int MAX_NESTING = 128;

  private final char[] s;
  private final int n;
  private int pos;
  private int line = 1;
  private final TomlTable root = new TomlTable(TomlTable.Kind.ROOT, 1, null);

  private TomlParser(char[] text, int length) {
    this.s = text;
    this.n = length;
  }

  /** Parses a whole document. */
  static TomlTable parse(char[] text, int length) {
    return new TomlParser(text, length).document();
  }

  static TomlTable parse(String text) {
    return parse(text.toCharArray(), text.length());
  }

  /**
   * Parses an RFC 3339 date-time with an offset (the grammar of a TOML offset date-time), or
   * returns null when the text is not one.
   */
  static OffsetDateTime parseOffsetDateTime(String text) {
    TomlParser p = new TomlParser(text.toCharArray(), text.length());
    try {
      Object value = p.dateTime(0, text.length());
      return value instanceof OffsetDateTime odt ? odt : null;
    } catch (TomlSyntaxException e) {
      return null;
    }
  }

  private TomlTable document() {
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

  private List<String> keyPath() {
    List<String> keys = new ArrayList<>(2);
    keys.add(simpleKey());
    while (true) {
      int save = pos;
      skipWhitespace();
      if (pos < n && s[pos] == '.') {
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
    while (pos < n && isBareKeyChar(s[pos])) {
      pos++;
    }
    if (pos == start) {
      throw error("expected a key, found " + describe(c));
    }
    return new String(s, start, pos - start);
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
        array = new TomlArray(true);
        parent.put(last, array, headerLine);
      } else if (existing instanceof TomlArray a && a.ofTables) {
        array = a;
      } else {
        throw errorAt(headerLine, "cannot define [[" + dotted(keys) + "]]: the key is already "
            + (existing instanceof TomlArray ? "a static array" : "defined"));
      }
      TomlTable element = new TomlTable(TomlTable.Kind.HEADER, headerLine, null);
      array.add(element);
      return element;
    }
    if (existing == null) {
      TomlTable table = new TomlTable(TomlTable.Kind.HEADER, headerLine, null);
      parent.put(last, table, headerLine);
      return table;
    }
    if (existing instanceof TomlTable t && t.kind == TomlTable.Kind.IMPLICIT) {
      t.kind = TomlTable.Kind.HEADER;
      return t;
    }
    throw errorAt(headerLine, "table [" + dotted(keys) + "] is defined more than once");
  }

  private TomlTable headerStep(TomlTable parent, String key, List<String> keys, int headerLine) {
    Object existing = parent.get(key);
    if (existing == null) {
      TomlTable table = new TomlTable(TomlTable.Kind.IMPLICIT, headerLine, null);
      parent.put(key, table, headerLine);
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
    Object value = value(depth);
    table.put(last, value, keyLine);
  }

  private TomlTable dottedStep(TomlTable parent, String key, List<String> keys, TomlTable inlineRoot) {
    Object existing = parent.get(key);
    if (existing == null) {
      TomlTable table = new TomlTable(TomlTable.Kind.DOTTED, line, inlineRoot);
      parent.put(key, table, line);
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
        return array(depth + 1);
      case '{':
        return inlineTable(depth + 1);
      case 't':
        word("true");
        return Boolean.TRUE;
      case 'f':
        word("false");
        return Boolean.FALSE;
      default:
        return scalar();
    }
  }

  private void word(String w) {
    if (pos + w.length() > n || !new String(s, pos, w.length()).equals(w)) {
      throw error("expected a value, found " + describe(s[pos]));
    }
    pos += w.length();
  }

  private TomlArray array(int depth) {
    checkDepth(depth);
    int openLine = line;
    pos++;
    TomlArray array = new TomlArray(false);
    while (true) {
      skipBlank();
      if (pos >= n) {
        throw errorAt(openLine, "array is not closed with ']'");
      }
      if (s[pos] == ']') {
        pos++;
        return array;
      }
      array.add(value(depth));
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
    TomlTable table = new TomlTable(TomlTable.Kind.INLINE_OPEN, openLine, null);
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
    while (true) {
      if (pos >= n) {
        throw errorAt(openLine, "string is not closed with '\"'");
      }
      char c = s[pos];
      if (c == '"') {
        String result = sb == null ? new String(s, start, pos - start) : sb.append(s, start, pos - start).toString();
        pos++;
        return result;
      }
      if (c == '\\') {
        if (sb == null) {
          sb = new StringBuilder();
        }
        sb.append(s, start, pos - start);
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
          sb.append(s, start, pos - start + quotes - 3);
          pos += quotes;
          return sb.toString();
        }
        pos += quotes;
      } else if (basic && c == '\\') {
        sb.append(s, start, pos - start);
        if (lineEndingBackslash()) {
          skipWhitespaceAndNewlines();
        } else {
          escape(sb);
        }
        start = pos;
      } else if (c == '\n' || c == '\r') {
        sb.append(s, start, pos - start);
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
    while (true) {
      if (pos >= n) {
        throw error("literal string is not closed with \"'\"");
      }
      char c = s[pos];
      if (c == '\'') {
        pos++;
        return new String(s, start, pos - 1 - start);
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
