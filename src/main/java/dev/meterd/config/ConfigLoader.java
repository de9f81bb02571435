package dev.meterd.config;

import dev.meterd.batch.BatchParser;
import dev.meterd.engine.GroupBounds;
import dev.meterd.ledger.PostgresLedger;
import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.tomlj.Toml;
import org.tomlj.TomlParseResult;
import org.tomlj.TomlTable;

/**
 * Reads config/meterd.toml with tomlj (strict TOML) into a {@link MeterdConfig}, rejecting at
 * start every unknown key, wrong type and out-of-range value, all listed in one error.
 */
public final class ConfigLoader {

  public static final Path DEFAULT_FILE = Path.of("config", "meterd.toml");

  static final String SOURCE_KIND = "kind";
  static final String SOURCE_URL = "url";
  static final String SOURCE_BRANCH = "branch";
  static final String SOURCE_CLONE_DIR = "clone_dir";
  static final String SOURCE_BASE_URL = "base_url";
  static final String SOURCE_OWNER = "owner";
  static final String SOURCE_REPO = "repo";
  static final String SOURCE_TOKEN_FILE = "token_file";
  static final String SOURCE_TIMEOUT_SECONDS = "timeout_seconds";
  static final String STORAGE_KIND = "kind";
  static final String STORAGE_PATH = "path";
  static final String BUSY_TIMEOUT_MS = "busy_timeout_ms";
  static final String STORAGE_URL = "url";
  static final String STORAGE_USER = "user";
  static final String POOL_SIZE = "pool_size";
  static final String STATEMENT_TIMEOUT_MS = "statement_timeout_ms";
  static final String LEASE_SECONDS = "lease_seconds";
  /** Refused with its own message: the password comes from the environment only. */
  static final String STORAGE_PASSWORD = "password";
  /** The keys of {@code [storage]} that only a PostgreSQL database has. */
  private static final List<String> POSTGRES_KEYS = List.of(STORAGE_URL, STORAGE_USER, POOL_SIZE, STATEMENT_TIMEOUT_MS,
      LEASE_SECONDS);
  static final String INTERVAL_SECONDS = "interval_seconds";
  static final String MAX_FILE_BYTES = "max_file_bytes";
  static final String MAX_RECORDS_PER_FILE = "max_records_per_file";
  static final String GROUP_MAX_NODES = "group_max_nodes";
  static final String GROUP_MAX_RECORDS = "group_max_records";
  static final String GROUP_MAX_MS = "group_max_ms";
  static final String HTTP_LISTEN = "listen";
  static final String HTTP_PUBLIC_URL = "public_url";
  static final String TOKENS_FILE = "tokens_file";
  static final String MAX_GRANT_CENTS = "max_grant_cents";
  static final String ENFORCEMENT_ENABLED = "enabled";
  /** Overrides {@code [enforcement] enabled} when set: {@code true} or {@code false}. */
  public static final String ENFORCEMENT_ENV = "METERD_CREDIT_ENFORCEMENT_ENABLED";
  static final String CURRENCY = "currency";
  static final String THRESHOLDS_PCT = "thresholds_pct";
  static final String WEBHOOK_URL = "webhook_url";
  static final String GIVE_UP_AFTER_SECONDS = "give_up_after_seconds";
  static final String NOTIFY_TIMEOUT_SECONDS = "timeout_seconds";

  private static final Map<String, Set<String>> KNOWN = Map.of(
      "source", Set.of(SOURCE_KIND, SOURCE_URL, SOURCE_BRANCH, SOURCE_CLONE_DIR, SOURCE_BASE_URL, SOURCE_OWNER,
          SOURCE_REPO, SOURCE_TOKEN_FILE, SOURCE_TIMEOUT_SECONDS),
      "storage", Set.of(STORAGE_KIND, STORAGE_PATH, BUSY_TIMEOUT_MS, STORAGE_URL, STORAGE_USER, POOL_SIZE,
          STATEMENT_TIMEOUT_MS, LEASE_SECONDS),
      "aggregator", Set.of(INTERVAL_SECONDS, MAX_FILE_BYTES, MAX_RECORDS_PER_FILE, GROUP_MAX_NODES, GROUP_MAX_RECORDS,
          GROUP_MAX_MS),
      "http", Set.of(HTTP_LISTEN, HTTP_PUBLIC_URL),
      "admin", Set.of(TOKENS_FILE, MAX_GRANT_CENTS),
      "enforcement", Set.of(ENFORCEMENT_ENABLED),
      "billing", Set.of(CURRENCY),
      "alerts", Set.of(THRESHOLDS_PCT),
      "notify", Set.of(WEBHOOK_URL, GIVE_UP_AFTER_SECONDS, NOTIFY_TIMEOUT_SECONDS));

  private static final String DEFAULT_STORAGE_PATH = "data/meterd.db";

  private final List<String> problems = new ArrayList<>();
  private TomlTable doc;

  private ConfigLoader() {}

  /** The built-in defaults, as used when no configuration file exists. */
  public static MeterdConfig defaults() {
    return new ConfigLoader().build();
  }

  /** Loads a file; a missing file is an error (the caller decides when a default applies). */
  public static MeterdConfig load(Path file) {
    String text;
    try {
      text = Files.readString(file);
    } catch (IOException e) {
      throw new ConfigException(file.toString(), List.of("cannot read it: " + e.getMessage()));
    }
    return parse(text, file.toString());
  }

  public static MeterdConfig parse(String text, String where) {
    ConfigLoader loader = new ConfigLoader();
    TomlParseResult result = Toml.parse(text);
    if (result.hasErrors()) {
      throw new ConfigException(where, result.errors().stream().map(e -> e.toString()).toList());
    }
    loader.doc = result;
    loader.checkKnownKeys();
    MeterdConfig config = loader.build();
    if (!loader.problems.isEmpty()) {
      throw new ConfigException(where, loader.problems);
    }
    return config;
  }

  private void checkKnownKeys() {
    for (String section : doc.keySet()) {
      Set<String> keys = KNOWN.get(section);
      if (keys == null || !doc.isTable(section)) {
        problems.add("unknown section [" + section + "]; known: " + new java.util.TreeSet<>(KNOWN.keySet()));
        continue;
      }
      for (String key : doc.getTable(section).keySet()) {
        if (section.equals("storage") && key.equals(STORAGE_PASSWORD)) {
          // The value is not quoted back, and not used: a password in a file is one copy too many.
          problems.add("storage.password is not read from the configuration file: remove it, and give the "
              + "database password in the environment variable " + MeterdConfig.Postgres.PASSWORD_ENV);
        } else if (!keys.contains(key)) {
          problems.add("unknown key " + section + "." + key + "; known: " + new java.util.TreeSet<>(keys));
        }
      }
    }
  }

  private MeterdConfig build() {
    // The default path also places the default clone folder, on PostgreSQL too.
    Path storagePath = Path.of(string("storage", STORAGE_PATH, DEFAULT_STORAGE_PATH));
    String kind = string("source", SOURCE_KIND, MeterdConfig.Source.GIT);
    MeterdConfig.Forge forge = null;
    if (kind.equals(MeterdConfig.Source.FORGE)) {
      forge = forge();
    } else if (!kind.equals(MeterdConfig.Source.GIT)) {
      problems.add("source.kind = \"" + kind + "\" is not supported; use \"git\" or \"forge\"");
    }
    String url = string("source", SOURCE_URL, "data/usage.git");
    String branch = string("source", SOURCE_BRANCH, "main");
    if (branch.isBlank()) {
      problems.add("source.branch must not be empty");
    }
    String cloneDir = string("source", SOURCE_CLONE_DIR, null);
    Path clonePath = cloneDir != null ? Path.of(cloneDir)
        : (storagePath.toAbsolutePath().getParent() == null ? Path.of("source-clone")
            : storagePath.toAbsolutePath().getParent().resolve("source-clone"));
    long timeout = integer("source", SOURCE_TIMEOUT_SECONDS, MeterdConfig.Source.DEFAULT_TIMEOUT.toSeconds(), 1, 3_600);
    long interval = integer("aggregator", INTERVAL_SECONDS, 300, 1, 86_400);
    long maxFileBytes = integer("aggregator", MAX_FILE_BYTES, BatchParser.Limits.DEFAULT_MAX_FILE_BYTES, 1, 1L << 30);
    long maxRecords = integer("aggregator", MAX_RECORDS_PER_FILE, BatchParser.Limits.DEFAULT_MAX_RECORDS_PER_FILE, 1,
        10_000_000);
    GroupBounds defaults = GroupBounds.DEFAULT;
    long groupNodes = integer("aggregator", GROUP_MAX_NODES, defaults.maxNodes(), 1, 100_000);
    long groupRecords = integer("aggregator", GROUP_MAX_RECORDS, defaults.maxRecords(), 1, 100_000_000);
    long busyTimeoutMs = integer("storage", BUSY_TIMEOUT_MS, 10_000, 1, 600_000);
    long groupMs = integer("aggregator", GROUP_MAX_MS, Math.min(defaults.maxTime().toMillis(), busyTimeoutMs / 2), 0,
        60_000);
    if (groupMs * 2 > busyTimeoutMs) {
      // A group holds the write lock about this long: a grant beside it waits, and must not time out.
      problems.add("aggregator.group_max_ms = " + groupMs + " must be at most half of storage.busy_timeout_ms = "
          + busyTimeoutMs + ", since a grant waits for a group's write lock; lower the one or raise the other");
    }
    String listen = string("http", HTTP_LISTEN, "127.0.0.1:8080");
    if (!listen.matches("^(\\[[0-9a-fA-F:]+\\]|[^:\\s]+):\\d{1,5}$")) {
      problems.add("http.listen = \"" + listen + "\" must be HOST:PORT, e.g. 127.0.0.1:8080");
    }
    String tokensFile = string("admin", TOKENS_FILE, null);
    long maxGrant = integer("admin", MAX_GRANT_CENTS, 1_000_000, 1, 1_000_000_000_000L);
    return new MeterdConfig(
        new MeterdConfig.Source(kind, url, branch, clonePath, forge, Duration.ofSeconds(timeout)),
        storage(storagePath, (int) busyTimeoutMs, groupMs),
        new MeterdConfig.Aggregator(Duration.ofSeconds(interval), maxFileBytes, (int) maxRecords,
            new GroupBounds((int) groupNodes, groupRecords, Duration.ofMillis(groupMs), defaults.readAhead())),
        new MeterdConfig.Http(listen, publicOrigin()),
        new MeterdConfig.Admin(tokensFile == null ? null : Path.of(tokensFile), maxGrant),
        credit(),
        notifyConfig());
  }

  /** {@code [storage]}: the SQLite file, or with {@code kind = "postgres"} the database and its pool. */
  private MeterdConfig.Storage storage(Path path, int busyTimeoutMs, long groupMs) {
    String kind = string("storage", STORAGE_KIND, MeterdConfig.Storage.SQLITE);
    if (kind.equals(MeterdConfig.Storage.POSTGRES)) {
      return new MeterdConfig.Storage(null, busyTimeoutMs, postgres(busyTimeoutMs, groupMs));
    }
    if (!kind.equals(MeterdConfig.Storage.SQLITE)) {
      problems.add("storage.kind = \"" + kind + "\" is not supported; use \"sqlite\" or \"postgres\"");
    }
    for (String key : POSTGRES_KEYS) {
      if (has("storage", key)) {
        problems.add("storage." + key + " applies to a PostgreSQL database only: remove it, or set storage.kind = "
            + "\"postgres\"");
      }
    }
    return new MeterdConfig.Storage(path, busyTimeoutMs);
  }

  private MeterdConfig.Postgres postgres(int busyTimeoutMs, long groupMs) {
    if (has("storage", STORAGE_PATH)) {
      problems.add("storage.path names a SQLite file and cannot be used with storage.kind = \"postgres\": remove "
          + "it (the database is storage.url)");
    }
    String url = postgresUrl();
    String user = string("storage", STORAGE_USER, null);
    if (user == null || user.isBlank()) {
      problems.add("storage.user must name the database user when storage.kind = \"postgres\" (its password "
          + "comes from the environment variable " + MeterdConfig.Postgres.PASSWORD_ENV + ")");
    }
    long poolSize = integer("storage", POOL_SIZE, PostgresLedger.Settings.DEFAULT_POOL_SIZE,
        PostgresLedger.Settings.MIN_POOL_SIZE, 1_000);
    long statementTimeoutMs = integer("storage", STATEMENT_TIMEOUT_MS,
        Math.max(PostgresLedger.Settings.DEFAULT_STATEMENT_TIMEOUT_MS, busyTimeoutMs + 1L), 1, 86_400_000);
    if (statementTimeoutMs <= busyTimeoutMs) {
      // A write's wait for the write lock is one statement: it must end by lock_timeout, which says why.
      problems.add("storage.statement_timeout_ms = " + statementTimeoutMs + " must be more than "
          + "storage.busy_timeout_ms = " + busyTimeoutMs + ", since a write's wait for the write lock is one "
          + "statement; raise the one or lower the other");
    }
    long leaseSeconds = integer("storage", LEASE_SECONDS, PostgresLedger.DEFAULT_LEASE.toSeconds(), 1, 3_600);
    if (leaseSeconds * 1_000 <= groupMs) {
      // A group's transaction waits up to group_max_ms for the reader, idle: the server would end it.
      problems.add("storage.lease_seconds = " + leaseSeconds + " must be more than aggregator.group_max_ms = "
          + groupMs + " ms, since a transaction idle as long as a lease is ended by the server; raise the one or "
          + "lower the other");
    }
    return new MeterdConfig.Postgres(url, user, (int) poolSize, (int) statementTimeoutMs,
        Duration.ofSeconds(leaseSeconds));
  }

  /**
   * {@code [storage] url}: a PostgreSQL JDBC URL without credentials. The value is not quoted back
   * in a refusal: a parameter may hold a secret.
   */
  private String postgresUrl() {
    String url = string("storage", STORAGE_URL, null);
    String form = "storage.url must be the JDBC URL of the PostgreSQL database, e.g. "
        + "\"jdbc:postgresql://127.0.0.1:5432/meterd\", when storage.kind = \"postgres\"";
    if (url == null || !url.startsWith("jdbc:postgresql://")) {
      problems.add(form);
      return url;
    }
    int query = url.indexOf('?');
    for (String parameter : query < 0 ? new String[0] : url.substring(query + 1).split("&")) {
      String name = parameter.split("=", 2)[0].toLowerCase(Locale.ROOT);
      if (name.endsWith(STORAGE_PASSWORD)) {
        problems.add("storage.url must not carry a password (its parameter " + name + "): remove it, and give "
            + "the database password in the environment variable " + MeterdConfig.Postgres.PASSWORD_ENV);
      } else if (name.equals(STORAGE_USER)) {
        problems.add("storage.url must not carry the user (its parameter user): give it as storage.user");
      }
    }
    return url;
  }

  private boolean has(String section, String key) {
    return doc != null && doc.contains(section + "." + key);
  }

  /**
   * The configuration with {@code [enforcement] enabled} overridden by the environment's
   * {@link #ENFORCEMENT_ENV}, when set (an empty value is unset, as for every meterd variable).
   *
   * @throws ConfigException the variable is neither {@code true} nor {@code false}
   */
  public static MeterdConfig withEnvironment(MeterdConfig config, Map<String, String> env) {
    String value = env.get(ENFORCEMENT_ENV);
    if (value == null || value.isEmpty()) {
      return config;
    }
    if (!value.equals("true") && !value.equals("false")) {
      throw new ConfigException("in the environment", List.of(ENFORCEMENT_ENV + " must be true or false, got \""
          + value + "\"; unset it to use [enforcement] enabled of the configuration"));
    }
    MeterdConfig.Credit c = config.credit();
    return new MeterdConfig(config.source(), config.storage(), config.aggregator(), config.http(), config.admin(),
        new MeterdConfig.Credit(c.alertThresholdsPct(), Boolean.parseBoolean(value), c.currency()), config.webhooks());
  }

  private MeterdConfig.Credit credit() {
    boolean enforcement = bool("enforcement", ENFORCEMENT_ENABLED, false);
    String currency = string("billing", CURRENCY, "USD");
    try {
      java.util.Currency.getInstance(currency);
    } catch (IllegalArgumentException e) {
      problems.add("billing.currency = \"" + currency + "\" is not an ISO 4217 currency code, e.g. \"USD\" or \"EUR\"");
      currency = "USD";
    }
    return new MeterdConfig.Credit(thresholds(), enforcement, currency);
  }

  /** {@code [alerts] thresholds_pct}: ascending whole percentages, 1 to 1000. */
  private List<Integer> thresholds() {
    List<Integer> fallback = MeterdConfig.Credit.DEFAULT_THRESHOLDS_PCT;
    if (doc == null || !doc.contains("alerts." + THRESHOLDS_PCT)) {
      return fallback;
    }
    String rule = "alerts.thresholds_pct must be a list of ascending whole percentages from 1 to 1000, e.g. [50, 80, 100]";
    if (!(doc.get("alerts." + THRESHOLDS_PCT) instanceof org.tomlj.TomlArray array) || array.isEmpty()) {
      problems.add(rule);
      return fallback;
    }
    List<Integer> result = new ArrayList<>();
    for (Object value : array.toList()) {
      if (!(value instanceof Long pct) || pct < 1 || pct > 1000 || (!result.isEmpty() && pct <= result.get(result.size() - 1))) {
        problems.add(rule + ", got " + array.toList());
        return fallback;
      }
      result.add(pct.intValue());
    }
    return List.copyOf(result);
  }

  private boolean bool(String section, String key, boolean fallback) {
    if (doc == null || !doc.contains(section + "." + key)) {
      return fallback;
    }
    Object value = doc.get(section + "." + key);
    if (!(value instanceof Boolean b)) {
      problems.add(section + "." + key + " must be true or false");
      return fallback;
    }
    return b;
  }

  private MeterdConfig.Webhooks notifyConfig() {
    long giveUp = integer("notify", GIVE_UP_AFTER_SECONDS, MeterdConfig.Webhooks.DEFAULT_GIVE_UP_AFTER.toSeconds(), 1,
        365L * 86_400);
    long timeout = integer("notify", NOTIFY_TIMEOUT_SECONDS, MeterdConfig.Webhooks.DEFAULT_TIMEOUT.toSeconds(), 1, 300);
    return new MeterdConfig.Webhooks(webhookUrl(), Duration.ofSeconds(giveUp), Duration.ofSeconds(timeout));
  }

  /** {@code [notify] webhook_url}, or null when unset. */
  private URI webhookUrl() {
    String url = string("notify", WEBHOOK_URL, null);
    if (url == null) {
      return null;
    }
    // The value is not quoted back: its query may carry the receiver's own token.
    String problem = "notify.webhook_url must be the absolute http or https URL of the webhook receiver, e.g. "
        + "\"https://hooks.example.org/meterd\"";
    URI uri = httpUrl(url, problem);
    if (uri != null && (uri.getRawUserInfo() != null || uri.getRawFragment() != null)) {
      problems.add(problem + ", without user info or fragment");
      return null;
    }
    return uri;
  }

  /**
   * {@code [http] public_url} as an origin: scheme and host in lower case, the port only when it
   * is not the scheme's default, as a browser writes the Origin header; null when unset.
   */
  private String publicOrigin() {
    String url = string("http", HTTP_PUBLIC_URL, null);
    if (url == null) {
      return null;
    }
    // The value is not quoted back: its user info, if any, may be a secret.
    String problem = "http.public_url must be the absolute http or https URL the admin pages are served at, e.g. "
        + "\"https://meterd.example.org\"";
    URI uri = httpUrl(url, problem);
    if (uri == null) {
      return null;
    }
    String scheme = uri.getScheme().toLowerCase(Locale.ROOT);
    if (uri.getRawUserInfo() != null || uri.getRawQuery() != null || uri.getRawFragment() != null) {
      problems.add(problem + ", without user info, query or fragment");
    } else if (!(uri.getRawPath().isEmpty() || uri.getRawPath().equals("/"))) {
      problems.add(problem + ", without a path: the pages are at /admin/ui/ of that origin (a proxy that adds a "
          + "path prefix is not supported)");
    } else {
      int port = uri.getPort();
      boolean defaultPort = port == -1 || port == (scheme.equals("https") ? 443 : 80);
      return scheme + "://" + uri.getHost().toLowerCase(Locale.ROOT) + (defaultPort ? "" : ":" + port);
    }
    return null;
  }

  /** {@code url} parsed, when it is an absolute http or https URL with a host; else {@code problem} is listed. */
  private URI httpUrl(String url, String problem) {
    URI uri;
    try {
      uri = new URI(url);
    } catch (URISyntaxException e) {
      problems.add(problem + "; it is not a valid URL");
      return null;
    }
    String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
    if (!(scheme.equals("http") || scheme.equals("https")) || uri.getHost() == null) {
      problems.add(problem);
      return null;
    }
    return uri;
  }

  private MeterdConfig.Forge forge() {
    String baseUrl = string("source", SOURCE_BASE_URL, null);
    String owner = string("source", SOURCE_OWNER, null);
    String repo = string("source", SOURCE_REPO, null);
    String tokenFile = string("source", SOURCE_TOKEN_FILE, null);
    if (baseUrl == null || !baseUrl.matches("^https?://[^/@\\s]+(/\\S*)?$")) {
      problems.add("source.base_url must be the forge's http(s) URL without credentials, e.g. "
          + "\"https://forge.example.org\", when source.kind = \"forge\"");
    }
    for (String[] named : new String[][] {{SOURCE_OWNER, owner}, {SOURCE_REPO, repo}}) {
      if (named[1] == null || !named[1].matches("^[A-Za-z0-9._-]{1,100}$")) {
        problems.add("source." + named[0] + " must name the repository's " + named[0]
            + " (letters, digits, '.', '_', '-') when source.kind = \"forge\"");
      }
    }
    return new MeterdConfig.Forge(baseUrl, owner, repo, tokenFile == null ? null : Path.of(tokenFile));
  }

  private String string(String section, String key, String fallback) {
    if (doc == null || !doc.contains(section + "." + key)) {
      return fallback;
    }
    Object value = doc.get(section + "." + key);
    if (!(value instanceof String s)) {
      problems.add(section + "." + key + " must be a string");
      return fallback;
    }
    return s;
  }

  private long integer(String section, String key, long fallback, long min, long max) {
    if (doc == null || !doc.contains(section + "." + key)) {
      return fallback;
    }
    Object value = doc.get(section + "." + key);
    if (!(value instanceof Long v)) {
      problems.add(section + "." + key + " must be an integer");
      return fallback;
    }
    if (v < min || v > max) {
      problems.add(section + "." + key + " must be " + min + " to " + max + ", got " + v);
      return fallback;
    }
    return v;
  }
}
