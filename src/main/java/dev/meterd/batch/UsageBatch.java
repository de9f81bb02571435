package dev.meterd.batch;

import java.util.List;

/**
 * The records of one batch file, in file order.
 *
 * @param path the file's path in the repository ({@code nodes/<node>/usage_...toml})
 * @param records the validated records
 */
public record UsageBatch(String path, List<UsageRecord> records) {

  public UsageBatch {
    records = List.copyOf(records);
  }
}
