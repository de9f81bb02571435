package dev.meterd.cli;

import dev.meterd.batch.BatchParser;
import picocli.CommandLine.Option;

/**
 * The file limits an edge node is told, which must be those of the reader (its
 * {@code [aggregator] max_file_bytes} and {@code max_records_per_file}): {@code record} goes on in
 * the hour's next file before a file would pass them, and {@code push} commits no file past them.
 */
final class FileLimitOptions {

  @Option(names = "--max-records", paramLabel = "N",
      defaultValue = "" + BatchParser.Limits.DEFAULT_MAX_RECORDS_PER_FILE,
      description = "Records a file may hold, as the reader's max_records_per_file (default: the reader's, "
          + "${DEFAULT-VALUE})")
  int maxRecords;

  @Option(names = "--max-file-bytes", paramLabel = "N", defaultValue = "" + BatchParser.Limits.DEFAULT_MAX_FILE_BYTES,
      description = "Bytes a file may hold, as the reader's max_file_bytes (default: the reader's, ${DEFAULT-VALUE})")
  long maxFileBytes;

  /** The limits given, each checked with the option's name. */
  BatchParser.Limits limits() {
    if (maxRecords < 1) {
      throw new UsageException("--max-records must be at least 1, got " + maxRecords);
    }
    if (maxFileBytes < 1 || maxFileBytes > BatchParser.Limits.MAX_FILE_BYTES) {
      throw new UsageException("--max-file-bytes must be 1 to " + BatchParser.Limits.MAX_FILE_BYTES + ", got "
          + maxFileBytes);
    }
    return new BatchParser.Limits(maxFileBytes, maxRecords);
  }
}
