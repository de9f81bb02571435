package dev.meterd.cli;

import dev.meterd.batch.BatchParser;
import dev.meterd.config.ConfigLoader;
import dev.meterd.config.ConfiguredLedger;
import dev.meterd.config.MeterdConfig;
import dev.meterd.engine.Aggregator;
import dev.meterd.engine.FaultInjector;
import dev.meterd.ledger.SqliteLedger;
import dev.meterd.source.BatchSource;
import dev.meterd.source.SourceException;
import dev.meterd.source.forge.ForgeBatchSource;
import dev.meterd.source.forge.ForgeOptions;
import dev.meterd.source.git.GitBatchSource;
import java.nio.file.Files;
import java.time.Clock;
import java.util.Optional;

/** What a command works with: the configuration, and the ledger and source it opens on demand. */
final class Context implements AutoCloseable {

  /** The environment variable holding the token for an https usage repository. */
  static final String GIT_TOKEN_ENV = "METERD_GIT_TOKEN";
  /** The environment variable holding the forge's API token. */
  static final String FORGE_TOKEN_ENV = "METERD_FORGE_TOKEN";

  final MeterdConfig config;
  /** Milliseconds are precise enough for booking times and keep the JSON readable. */
  final Clock clock = Clock.tick(Clock.systemUTC(), java.time.Duration.ofMillis(1));
  private final Main main;
  private SqliteLedger ledger;
  private BatchSource source;

  private Context(Main main, MeterdConfig config) {
    this.main = main;
    this.config = config;
  }

  static Context create(Main main) {
    MeterdConfig config;
    if (main.config != null) {
      config = ConfigLoader.load(main.config);
    } else if (Files.exists(ConfigLoader.DEFAULT_FILE)) {
      config = ConfigLoader.load(ConfigLoader.DEFAULT_FILE);
    } else {
      config = ConfigLoader.defaults();
    }
    if (main.demoDb != null) {
      // The demo's own file, whatever the configuration's storage: nothing of the demo reaches outside its folder.
      config = config.withStoragePath(main.demoDb);
    } else if (main.db != null) {
      if (config.storage().postgres() != null) {
        throw new UsageException("--db names a SQLite database file, but the configuration "
            + (main.config != null ? main.config : ConfigLoader.DEFAULT_FILE) + " has [storage] kind = \"postgres\"; "
            + "drop --db, or use a configuration of kind \"sqlite\"");
      }
      config = config.withStoragePath(main.db);
    }
    if (main.source != null) {
      config = config.withSourceUrl(main.source);
    }
    return new Context(main, config);
  }

  /**
   * The demo's context: runs every few seconds, and nothing of the configuration reaches outside
   * the demo's own folder: no webhook receiver (its events would be signed and real to it), no
   * tokens file (production tokens would open the demo).
   */
  Context forDemo(java.time.Duration interval) {
    MeterdConfig c = config;
    return new Context(main, new MeterdConfig(c.source(), c.storage(), new MeterdConfig.Aggregator(interval,
        c.aggregator().maxFileBytes(), c.aggregator().maxRecordsPerFile(), c.aggregator().groups()), c.http(),
        new MeterdConfig.Admin(null, c.admin().maxGrantCents()), c.credit(),
        new MeterdConfig.Webhooks(null, c.webhooks().giveUpAfter(), c.webhooks().timeout())));
  }

  /** The same context with the environment's overrides of the configuration (the daemon's). */
  Context withEnvironment(java.util.Map<String, String> env) {
    return new Context(main, ConfigLoader.withEnvironment(config, env));
  }

  SqliteLedger ledger() {
    if (ledger == null) {
      ledger = openLedger();
    }
    return ledger;
  }

  /**
   * A ledger of its own on the configured storage (SQLite, or PostgreSQL with the password from
   * the environment), with the configured credit rules; the caller closes it. Every command and
   * the daemon open the ledger here, so every one of them refuses a ledger kept in another
   * currency than {@code [billing] currency}.
   *
   * @throws dev.meterd.ledger.CurrencyMismatchException the ledger keeps another currency (exit 2)
   */
  SqliteLedger openLedger() {
    return ConfiguredLedger.open(config, main.env, clock);
  }

  BatchSource source() throws SourceException {
    if (source == null) {
      MeterdConfig.Source s = config.source();
      if (MeterdConfig.Source.FORGE.equals(s.kind())) {
        MeterdConfig.Forge f = s.forge();
        source = ForgeBatchSource.open(f.baseUrl(), f.owner(), f.repo(), s.branch(), forgeToken(f),
            ForgeOptions.DEFAULT.withTimeout(s.timeout()));
      } else {
        source = GitBatchSource.open(s.url(), s.branch(), s.cloneDir(),
            Optional.ofNullable(main.env.get(GIT_TOKEN_ENV)).filter(t -> !t.isBlank()), s.timeout());
      }
    }
    return source;
  }

  /** The forge token: METERD_FORGE_TOKEN, else the first line of [source] token_file, else none. */
  private Optional<String> forgeToken(MeterdConfig.Forge forge) {
    Optional<String> fromEnv = Optional.ofNullable(main.env.get(FORGE_TOKEN_ENV)).map(String::strip)
        .filter(t -> !t.isEmpty());
    if (fromEnv.isPresent() || forge.tokenFile() == null) {
      return fromEnv;
    }
    try {
      String token = Files.readString(forge.tokenFile()).strip();
      if (token.isEmpty() || token.contains("\n")) {
        throw new UsageException("[source] token_file " + forge.tokenFile() + " must hold the token alone");
      }
      return Optional.of(token);
    } catch (java.io.IOException e) {
      throw new UsageException("cannot read [source] token_file " + forge.tokenFile() + ": " + e.getMessage());
    }
  }

  BatchParser parser() {
    return new BatchParser(config.aggregator().limitsWithin(Runtime.getRuntime().maxMemory()));
  }

  Aggregator aggregator() throws SourceException {
    BatchParser parser = parser();
    return new Aggregator(source(), ledger(), parser, clock, FaultInjector.fromSystemProperty(),
        config.aggregator().groups());
  }

  /** A sentence for the operator, on stderr. */
  void note(String sentence) {
    main.err.println("meterd: " + sentence);
  }

  void print(Object json) {
    main.out.println(json);
    main.out.flush();
  }

  @Override
  public void close() {
    try {
      if (source != null) {
        source.close();
      }
    } finally {
      if (ledger != null) {
        ledger.close();
      }
    }
  }
}
