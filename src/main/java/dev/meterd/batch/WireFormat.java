package dev.meterd.batch;

import java.time.DateTimeException;
import java.time.LocalDate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The names of the usage repository layout (wire format, version 1). */
public final class WireFormat {

  /** Where node folders live, relative to the repository root. */
  public static final String NODES_DIR = "nodes";

  private static final Pattern NODE_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");
  private static final Pattern USAGE_FILE =
      Pattern.compile("usage_(\\d{4})-(\\d{2})-(\\d{2})-(\\d{2})\\.o?toml");

  private WireFormat() {}

  /** Whether a folder under {@code nodes/} names a node that meterd reads. */
  public static boolean isNodeName(String name) {
    // Equivalent to NODE_NAME, without a regex: this runs for every folder on every poll.
    int n = name.length();
    if (n < 1 || n > 64 || !isAlnum(name.charAt(0))) {
      return false;
    }
    for (int i = 1; i < n; i++) {
      char c = name.charAt(i);
      if (!isAlnum(c) && c != '.' && c != '_' && c != '-') {
        return false;
      }
    }
    return true;
  }

  private static boolean isAlnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  }

  /** The node-name rule as a pattern, for documentation and tests. */
  static Pattern nodeNamePattern() {
    return NODE_NAME;
  }

  /**
   * Whether a file in a node folder is a usage batch: {@code usage_YYYY-MM-DD-HH.toml} (or
   * {@code .otoml}) naming a real UTC hour.
   */
  public static boolean isUsageFileName(String name) {
    Matcher m = USAGE_FILE.matcher(name);
    if (!m.matches()) {
      return false;
    }
    try {
      LocalDate.of(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)), Integer.parseInt(m.group(3)));
    } catch (DateTimeException e) {
      return false;
    }
    return Integer.parseInt(m.group(4)) <= 23;
  }
}
