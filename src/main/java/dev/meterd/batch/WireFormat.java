package dev.meterd.batch;

import java.time.DateTimeException;
import java.time.LocalDate;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The names of the usage repository layout (wire format, version 1). */
public final class WireFormat {

  /** Where node folders live, relative to the repository root. */
  public static final String NODES_DIR = "nodes";

  private static final Pattern NODE_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");
  /**
   * An hour's file, or a file it goes on in ({@code .N}, N from 1, no leading zero). Java's
   * {@code \d} matches ASCII digits only, so no other script's digits pass.
   */
  private static final Pattern USAGE_FILE =
      Pattern.compile("usage_((\\d{4})-(\\d{2})-(\\d{2})-(\\d{2}))(?:\\.([1-9]\\d*))?\\.(o?toml)");

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
   * A usage file's name taken apart.
   *
   * @param hour its UTC hour as the name spells it, {@code YYYY-MM-DD-HH}
   * @param part 0 for the hour's file, N for {@code usage_<hour>.N.toml}, the file that goes on
   *     after the hour's file reached a limit ({@link Long#MAX_VALUE} for an N longer than 18 digits)
   * @param extension {@code toml} or {@code otoml}
   */
  public record UsageFileName(String hour, long part, String extension) {}

  /**
   * Whether a file in a node folder is a usage batch: {@code usage_YYYY-MM-DD-HH.toml}, or
   * {@code usage_YYYY-MM-DD-HH.N.toml} (N = 1, 2, ..., no leading zero), naming a real UTC hour;
   * {@code .otoml} is read exactly like {@code .toml}, in either form.
   */
  public static boolean isUsageFileName(String name) {
    return usageFileName(name).isPresent();
  }

  /** A usage file's name taken apart, or empty when the name is not one; see {@link #isUsageFileName}. */
  public static Optional<UsageFileName> usageFileName(String name) {
    Matcher m = USAGE_FILE.matcher(name);
    if (!m.matches()) {
      return Optional.empty();
    }
    try {
      LocalDate.of(Integer.parseInt(m.group(2)), Integer.parseInt(m.group(3)), Integer.parseInt(m.group(4)));
    } catch (DateTimeException e) {
      return Optional.empty();
    }
    if (Integer.parseInt(m.group(5)) > 23) {
      return Optional.empty();
    }
    String part = m.group(6);
    long n = part == null ? 0 : part.length() > 18 ? Long.MAX_VALUE : Long.parseLong(part);
    return Optional.of(new UsageFileName(m.group(1), n, m.group(7)));
  }
}
