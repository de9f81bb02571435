package dev.meterd.config;

import java.nio.file.Path;
import java.time.Duration;

/**
 * meterd's validated configuration (config/meterd.toml).
 *
 * @param source where usage batches come from
 * @param storage where the ledger lives
 * @param aggregator how runs behave
 * @param http the daemon's listener
 * @param admin admin tokens and limits
 */
public record MeterdConfig(Source source, Storage storage, Aggregator aggregator, Http http, Admin admin) {

  /**
   * @param kind git (forge is planned)
   * @param url a local path or a git URL
   * @param branch the branch to read
   * @param cloneDir where meterd keeps its clone of a URL
   */
  public record Source(String kind, String url, String branch, Path cloneDir) {}

  /**
   * @param path the SQLite file
   * @param busyTimeoutMs how long a write waits for another writer's lock
   */
  public record Storage(Path path, int busyTimeoutMs) {}

  /**
   * @param interval time between runs of the daemon
   * @param maxFileBytes a larger usage file is a content error
   * @param maxRecordsPerFile a file with more records is a content error
   */
  public record Aggregator(Duration interval, long maxFileBytes, int maxRecordsPerFile) {}

  public record Http(String listen) {}

  /**
   * @param tokensFile named admin tokens, or null
   * @param maxGrantCents the largest single grant
   */
  public record Admin(Path tokensFile, long maxGrantCents) {}

  public MeterdConfig withStoragePath(Path path) {
    return new MeterdConfig(source, new Storage(path, storage.busyTimeoutMs()), aggregator, http, admin);
  }

  public MeterdConfig withSourceUrl(String url) {
    return new MeterdConfig(new Source(source.kind(), url, source.branch(), source.cloneDir()), storage,
        aggregator, http, admin);
  }
}
