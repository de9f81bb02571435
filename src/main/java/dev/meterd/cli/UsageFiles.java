package dev.meterd.cli;

import dev.meterd.edge.BatchText;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;

/** The demo repository's batch files. */
final class UsageFiles {

  private static final DateTimeFormatter HOUR = DateTimeFormatter.ofPattern("yyyy-MM-dd-HH").withZone(ZoneOffset.UTC);

  private UsageFiles() {}

  /** A batch of {@code count} records spread over the users of the demo. */
  static String batch(String node, Instant hour, int count, int seed) {
    StringBuilder sb = new StringBuilder(BatchText.header(node));
    for (int i = 0; i < count; i++) {
      String user = DemoRepoCommand.USERS[(seed + i) % DemoRepoCommand.USERS.length];
      BatchText.record(sb, node + "/" + HOUR.format(hour) + "/" + String.format("%06d", i), user, 10 + (seed * 13 + i * 7) % 90,
          hour.plusSeconds(i * 60L), "llm.tokens", 100L * (i + 1));
    }
    return sb.toString();
  }
}
