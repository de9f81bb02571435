package dev.meterd.config;

import dev.meterd.batch.BatchParser;
import dev.meterd.engine.GroupBounds;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * meterd's validated configuration (config/meterd.toml).
 *
 * @param source where usage batches come from
 * @param storage where the ledger lives
 * @param aggregator how runs behave
 * @param http the daemon's listener
 * @param admin admin tokens and limits
 * @param credit the rules of prepaid credit
 * @param webhooks where webhook events go ([notify])
 */
public record MeterdConfig(Source source, Storage storage, Aggregator aggregator, Http http, Admin admin,
    Credit credit, Webhooks webhooks) {

  /**
   * @param alertThresholdsPct {@code [alerts] thresholds_pct}: ascending percentages of a monthly budget
   * @param enforcement {@code [enforcement] enabled}: authorize and holds refuse, rather than only flag,
   *     a wallet without credit (the environment's METERD_CREDIT_ENFORCEMENT_ENABLED overrides it)
   * @param currency {@code [billing] currency}: ISO 4217, how the pages show amounts
   */
  public record Credit(List<Integer> alertThresholdsPct, boolean enforcement, String currency) {

    public static final List<Integer> DEFAULT_THRESHOLDS_PCT = List.of(50, 80, 100);
  }

  /**
   * @param kind git or forge
   * @param url git: a local path or a git URL
   * @param branch the branch to read
   * @param cloneDir git: where meterd keeps its clone of a URL
   * @param forge forge: where the forge is; null for git
   * @param timeout how long connecting to the remote, and each read of its answer, may take (git
   *     fetch, forge requests)
   */
  public record Source(String kind, String url, String branch, Path cloneDir, Forge forge, Duration timeout) {

    public static final String GIT = "git";
    public static final String FORGE = "forge";
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(30);
  }

  /**
   * A Gitea or Forgejo repository.
   *
   * @param baseUrl the forge's root, e.g. https://forge.example.org
   * @param owner the repository's owner
   * @param repo the repository's name
   * @param tokenFile a file holding the token, or null (METERD_FORGE_TOKEN comes first)
   */
  public record Forge(String baseUrl, String owner, String repo, Path tokenFile) {}

  /**
   * Where the ledger lives: a SQLite file ({@code [storage] kind = "sqlite"}, the default), or a
   * PostgreSQL database ({@code kind = "postgres"}).
   *
   * @param path the SQLite file; null on PostgreSQL
   * @param busyTimeoutMs how long a write waits for another writer's lock (on PostgreSQL its
   *     {@code lock_timeout}, and how long a transaction waits for a connection of the pool, at
   *     least 10 s)
   * @param postgres the PostgreSQL database; null on SQLite
   */
  public record Storage(Path path, int busyTimeoutMs, Postgres postgres) {

    public static final String SQLITE = "sqlite";
    public static final String POSTGRES = "postgres";

    public Storage {
      if ((path == null) == (postgres == null)) {
        throw new IllegalArgumentException("a storage is either a SQLite file or a PostgreSQL database");
      }
    }

    /** The ledger in the SQLite file {@code path}. */
    public Storage(Path path, int busyTimeoutMs) {
      this(path, busyTimeoutMs, null);
    }

    /** {@value #SQLITE} or {@value #POSTGRES}, as {@code [storage] kind} says. */
    public String kind() {
      return postgres == null ? SQLITE : POSTGRES;
    }
  }

  /**
   * The ledger's PostgreSQL database. Its password is not here: meterd reads it from the
   * environment variable {@value #PASSWORD_ENV} only, so that it is in no file and no log.
   *
   * @param url the JDBC URL, {@code jdbc:postgresql://host:5432/meterd}, without credentials
   * @param user the database user
   * @param poolSize the most connections one opened ledger keeps (HikariCP's maximumPoolSize), at
   *     least {@link dev.meterd.ledger.PostgresLedger.Settings#MIN_POOL_SIZE}
   * @param statementTimeoutMs PostgreSQL's {@code statement_timeout}: a statement running longer is
   *     cancelled by the server
   * @param lease how long a node claimed by this daemon stays its without a renewal ({@code
   *     lease_seconds}): a killed daemon's nodes wait this long for another, and a transaction left
   *     idle this long (a frozen daemon's) is ended by the server
   */
  public record Postgres(String url, String user, int poolSize, int statementTimeoutMs, Duration lease) {

    public static final String PASSWORD_ENV = "METERD_DB_PASSWORD";
  }

  /**
   * @param interval time between runs of the daemon
   * @param maxFileBytes a larger usage file is a content error
   * @param maxRecordsPerFile a file with more records is a content error
   */
  /**
   * @param groups when a group of nodes, applied in one transaction, commits
   */
  public record Aggregator(Duration interval, long maxFileBytes, int maxRecordsPerFile, GroupBounds groups) {

    /**
     * Heap that parsing one file at the size limit may take, per byte of the limit: its bytes, its
     * characters, and its tree and records, which the parser keeps within a budget.
     */
    public static final int HEAP_BYTES_PER_FILE_BYTE = BatchParser.HEAP_BYTES_PER_FILE_BYTE;

    /**
     * The parser's limits, once it is certain that this heap can hold a file at the size limit:
     * otherwise a big enough file would end the whole run with an OutOfMemoryError instead of
     * halting its node.
     *
     * @param maxHeapBytes the JVM's heap, {@code Runtime.getRuntime().maxMemory()}
     * @throws ConfigException the heap is too small for {@code max_file_bytes}
     */
    public BatchParser.Limits limitsWithin(long maxHeapBytes) {
      long needed = maxFileBytes * HEAP_BYTES_PER_FILE_BYTE;
      if (needed > maxHeapBytes) {
        long neededMiB = (needed + (1 << 20) - 1) >> 20;
        throw new ConfigException("for this JVM", List.of("aggregator.max_file_bytes = " + maxFileBytes
            + " needs about " + neededMiB + " MiB of heap to parse a file of that size, and this JVM has "
            + (maxHeapBytes >> 20) + " MiB: start java with -Xmx" + neededMiB + "m or more, or lower the limit"));
      }
      return new BatchParser.Limits(maxFileBytes, maxRecordsPerFile);
    }
  }

  /**
   * @param listen the address the server listens on, HOST:PORT
   * @param publicOrigin the origin the admin pages are served at ({@code [http] public_url}, e.g.
   *     behind a TLS proxy) as {@code scheme://host[:port]}, or null: then the request's own
   *     {@code http://} + Host
   */
  public record Http(String listen, String publicOrigin) {}

  /**
   * @param tokensFile named admin tokens, or null
   * @param maxGrantCents the largest single grant
   */
  public record Admin(Path tokensFile, long maxGrantCents) {}

  /**
   * The webhook receiver ({@code [notify]}); the signing secret comes from the environment.
   *
   * @param webhookUrl the receiver's absolute http(s) URL, or null: events are recorded in the
   *     outbox and wait there, undelivered
   * @param giveUpAfter how long after an event was written its delivery is retried before it is
   *     marked failed
   * @param timeout how long connecting to the receiver, and waiting for its answer, may take
   */
  public record Webhooks(java.net.URI webhookUrl, Duration giveUpAfter, Duration timeout) {

    public static final Duration DEFAULT_GIVE_UP_AFTER = Duration.ofDays(3);
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);
  }

  /** The ledger in the SQLite file {@code path} (the --db option), whatever the file said. */
  public MeterdConfig withStoragePath(Path path) {
    return new MeterdConfig(source, new Storage(path, storage.busyTimeoutMs()), aggregator, http, admin, credit, webhooks);
  }

  /** A git source at {@code url} (the --source option), whatever the file said. */
  public MeterdConfig withSourceUrl(String url) {
    return new MeterdConfig(new Source(Source.GIT, url, source.branch(), source.cloneDir(), null, source.timeout()),
        storage,
        aggregator, http, admin, credit, webhooks);
  }
}
