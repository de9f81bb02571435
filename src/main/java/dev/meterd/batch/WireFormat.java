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
    return NODE_NAME.matcher(name).matches();
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
