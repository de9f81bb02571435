package dev.meterd.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meterd.batch.BatchParser;
import dev.meterd.engine.GroupBounds;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class ConfigLoaderTest {

  @Test
  void anEmptyFileGivesTheDefaultsAndTheServerListensOnLoopbackOnly() {
    MeterdConfig config = ConfigLoader.parse("", "empty.toml");
    assertThat(config.http().listen()).isEqualTo("127.0.0.1:8080");
    assertThat(config.source()).isEqualTo(new MeterdConfig.Source("git", "data/usage.git", "main",
        Path.of("data").toAbsolutePath().resolve("source-clone"), null, Duration.ofSeconds(30)));
    assertThat(config.storage()).isEqualTo(new MeterdConfig.Storage(Path.of("data/meterd.db"), 10_000));
    assertThat(config.aggregator()).isEqualTo(new MeterdConfig.Aggregator(Duration.ofMinutes(5), 16 << 20, 200_000,
        GroupBounds.DEFAULT));
  }

  @Test
  void theShippedExampleConfigurationLoadsAndStatesTheDefaults() {
    MeterdConfig example = ConfigLoader.load(Path.of("config", "meterd.toml"));
    MeterdConfig defaults = ConfigLoader.parse("", "empty.toml");
    assertThat(example.source().kind()).isEqualTo(defaults.source().kind());
    assertThat(example.source().url()).isEqualTo(defaults.source().url());
    assertThat(example.storage()).isEqualTo(defaults.storage());
    assertThat(example.aggregator()).isEqualTo(defaults.aggregator());
    assertThat(example.http()).isEqualTo(defaults.http());
    assertThat(example.admin()).isEqualTo(defaults.admin());
    assertThat(example.credit()).isEqualTo(defaults.credit());
    assertThat(example.webhooks()).isEqualTo(defaults.webhooks());
  }

  @Test
  void aForgeSourceKeepsItsURLRepositoryAndTokenFile() {
    MeterdConfig config = ConfigLoader.parse("""
        [source]
        kind = "forge"
        base_url = "https://forge.example.org/gitea"
        owner = "ops"
        repo = "usage"
        branch = "billing"
        token_file = "/etc/meterd/forge-token"
        """, "forge.toml");
    assertThat(config.source().kind()).isEqualTo("forge");
    assertThat(config.source().branch()).isEqualTo("billing");
    assertThat(config.source().forge()).isEqualTo(new MeterdConfig.Forge("https://forge.example.org/gitea", "ops",
        "usage", Path.of("/etc/meterd/forge-token")));
  }

  @Test
  void everyProblemIsListedWithItsKey() {
    assertThatThrownBy(() -> ConfigLoader.parse("""
        [aggregator]
        interval_seconds = 0
        colour = "red"
        [http]
        listen = "nope"
        """, "bad.toml"))
        .isInstanceOf(ConfigException.class)
        .hasMessage("""
            invalid configuration bad.toml:
              unknown key aggregator.colour; known: [group_max_ms, group_max_nodes, group_max_records, interval_seconds, \
            max_file_bytes, max_records_per_file]
              aggregator.interval_seconds must be 1 to 86400, got 0
              http.listen = "nope" must be HOST:PORT, e.g. 127.0.0.1:8080""");
  }

  @Test
  void theDefaultFileLimitFitsA256MiBHeapAndALargerOneAsksForMore() {
    MeterdConfig.Aggregator defaults = ConfigLoader.parse("", "empty.toml").aggregator();
    assertThat(defaults.limitsWithin(240L << 20)).isEqualTo(BatchParser.Limits.DEFAULT);

    MeterdConfig.Aggregator big = ConfigLoader.parse("[aggregator]\nmax_file_bytes = 100000000\n", "big.toml")
        .aggregator();
    assertThatThrownBy(() -> big.limitsWithin(1L << 30))
        .isInstanceOf(ConfigException.class)
        .hasMessage("invalid configuration for this JVM:\n  aggregator.max_file_bytes = 100000000 needs about 1145 MiB"
            + " of heap to parse a file of that size, and this JVM has 1024 MiB: start java with -Xmx1145m or more,"
            + " or lower the limit");
    assertThat(big.limitsWithin(2L << 30)).isEqualTo(new BatchParser.Limits(100_000_000, 200_000));
  }

  private static String publicOrigin(String url) {
    return ConfigLoader.parse("[http]\npublic_url = \"" + url + "\"\n", "proxy.toml").http().publicOrigin();
  }

  @Test
  void aPublicUrlBecomesTheOriginABrowserSends() {
    assertThat(ConfigLoader.parse("", "empty.toml").http().publicOrigin()).isNull();
    assertThat(publicOrigin("https://meterd.example.org")).isEqualTo("https://meterd.example.org");
    assertThat(publicOrigin("HTTPS://Meterd.Example.ORG:443/")).isEqualTo("https://meterd.example.org");
    assertThat(publicOrigin("https://meterd.example.org:8443")).isEqualTo("https://meterd.example.org:8443");
    assertThat(publicOrigin("http://10.0.0.5:80/")).isEqualTo("http://10.0.0.5");
    assertThat(publicOrigin("http://10.0.0.5:443")).isEqualTo("http://10.0.0.5:443");
    assertThat(publicOrigin("https://[::1]:8443/")).isEqualTo("https://[::1]:8443");
  }

  @Test
  void aPublicUrlThatIsNotAnHttpOriginIsRefusedAtStartWithTheReason() {
    String must = " must be the absolute http or https URL the admin pages are served at, e.g. "
        + "\"https://meterd.example.org\"";
    java.util.Map<String, String> reasons = new java.util.LinkedHashMap<>();
    reasons.put("meterd.example.org", "");
    reasons.put("/admin/ui", "");
    reasons.put("ftp://meterd.example.org", "");
    reasons.put("https://", "; it is not a valid URL");
    reasons.put("https://bad host", "; it is not a valid URL");
    reasons.put("https://meterd.example.org/?next=1", ", without user info, query or fragment");
    reasons.put("https://meterd.example.org#top", ", without user info, query or fragment");
    // Never quoted back: user info may be a secret.
    reasons.put("https://admin:secret@meterd.example.org", ", without user info, query or fragment");
    reasons.put("https://example.org/meterd", ", without a path: the pages are at /admin/ui/ of that origin (a proxy "
        + "that adds a path prefix is not supported)");
    assertEachRefused(reasons, ConfigLoaderTest::publicOrigin, "invalid configuration proxy.toml:\n  http.public_url"
        + must);
  }

  @Test
  void notifyHasNoReceiverByDefaultAndGivesUpAfterThreeDays() {
    assertThat(ConfigLoader.parse("", "empty.toml").webhooks()).isEqualTo(new MeterdConfig.Webhooks(null,
        Duration.ofDays(3), Duration.ofSeconds(10)));
    MeterdConfig config = ConfigLoader.parse("""
        [notify]
        webhook_url = "https://hooks.example.org/meterd?token=t0k"
        give_up_after_seconds = 3600
        timeout_seconds = 5
        """, "notify.toml");
    assertThat(config.webhooks()).isEqualTo(new MeterdConfig.Webhooks(
        java.net.URI.create("https://hooks.example.org/meterd?token=t0k"), Duration.ofHours(1), Duration.ofSeconds(5)));
    assertThat(config.withStoragePath(Path.of("x.db")).webhooks()).isEqualTo(config.webhooks());
  }

  @Test
  void aWebhookUrlThatIsNotAnAbsoluteHttpUrlIsRefusedWithoutQuotingIt() {
    String must = "notify.webhook_url must be the absolute http or https URL of the webhook receiver, e.g. "
        + "\"https://hooks.example.org/meterd\"";
    java.util.Map<String, String> reasons = new java.util.LinkedHashMap<>();
    reasons.put("hooks.example.org/meterd", "");
    reasons.put("ftp://hooks.example.org/", "");
    reasons.put("https://bad host/", "; it is not a valid URL");
    reasons.put("https://user:secret@hooks.example.org/", ", without user info or fragment");
    reasons.put("https://hooks.example.org/#x", ", without user info or fragment");
    assertEachRefused(reasons, url -> ConfigLoader.parse("[notify]\nwebhook_url = \"" + url + "\"\n", "n.toml"),
        "invalid configuration n.toml:\n  " + must);
    assertThatThrownBy(() -> ConfigLoader.parse("[notify]\ngive_up_after_seconds = 0\ntimeout_seconds = 301\n", "n.toml"))
        .hasMessage("invalid configuration n.toml:\n  notify.give_up_after_seconds must be 1 to 31536000, got 0\n"
            + "  notify.timeout_seconds must be 1 to 300, got 301");
  }

  /** Each value of {@code reasons}' keys is refused by {@code load} with {@code message} and its reason. */
  private static void assertEachRefused(java.util.Map<String, String> reasons,
      java.util.function.Function<String, ?> load, String message) {
    for (java.util.Map.Entry<String, String> bad : reasons.entrySet()) {
      assertThatThrownBy(() -> load.apply(bad.getKey())).as(bad.getKey())
          .isInstanceOf(ConfigException.class)
          .hasMessage(message + bad.getValue());
    }
  }

  @Test
  void theCreditSectionsAreValidatedAndDefaultToUsdAndFiftyEightyHundred() {
    MeterdConfig defaults = ConfigLoader.defaults();
    assertThat(defaults.credit()).isEqualTo(new MeterdConfig.Credit(java.util.List.of(50, 80, 100), false, "USD"));
    MeterdConfig set = ConfigLoader.parse("[alerts]\nthresholds_pct = [25, 100, 150]\n[billing]\ncurrency = \"EUR\"\n"
        + "[enforcement]\nenabled = true\n", "credit.toml");
    assertThat(set.credit()).isEqualTo(new MeterdConfig.Credit(java.util.List.of(25, 100, 150), true, "EUR"));
    assertThatThrownBy(() -> ConfigLoader.parse("[alerts]\nthresholds_pct = [80, 50]\n[billing]\ncurrency = \"XYZ\"\n"
        + "[enforcement]\nenabled = \"yes\"\n", "bad.toml"))
        .isInstanceOf(ConfigException.class)
        .hasMessage("invalid configuration bad.toml:\n"
            + "  enforcement.enabled must be true or false\n"
            + "  billing.currency = \"XYZ\" is not an ISO 4217 currency code, e.g. \"USD\" or \"EUR\"\n"
            + "  alerts.thresholds_pct must be a list of ascending whole percentages from 1 to 1000, e.g. [50, 80, 100], "
            + "got [80, 50]");
  }

  @Test
  void theEnvironmentOverridesEnforcementWithTrueOrFalseAndRefusesAnythingElse() {
    MeterdConfig on = ConfigLoader.parse("[enforcement]\nenabled = true\n", "on.toml");
    String env = ConfigLoader.ENFORCEMENT_ENV;
    assertThat(ConfigLoader.withEnvironment(on, java.util.Map.of(env, "false")).credit().enforcement()).isFalse();
    assertThat(ConfigLoader.withEnvironment(ConfigLoader.defaults(), java.util.Map.of(env, "true")).credit()
        .enforcement()).isTrue();
    assertThat(ConfigLoader.withEnvironment(on, java.util.Map.of()).credit().enforcement()).isTrue();
    assertThat(ConfigLoader.withEnvironment(on, java.util.Map.of(env, "")).credit().enforcement()).isTrue();
    for (String bad : java.util.List.of("yes", "TRUE", "1", " true")) {
      assertThatThrownBy(() -> ConfigLoader.withEnvironment(on, java.util.Map.of(env, bad)))
          .isInstanceOf(ConfigException.class)
          .hasMessage("invalid configuration in the environment:\n  METERD_CREDIT_ENFORCEMENT_ENABLED must be true "
              + "or false, got \"" + bad + "\"; unset it to use [enforcement] enabled of the configuration");
    }
  }

  @Test
  void aGroupMayHoldTheWriteLockForAtMostHalfTheBusyTimeout(@org.junit.jupiter.api.io.TempDir Path dir)
      throws Exception {
    Path shortWait = java.nio.file.Files.writeString(dir.resolve("short.toml"), "[storage]\nbusy_timeout_ms = 300\n");
    assertThat(ConfigLoader.load(shortWait).aggregator().groups().maxTime()).isEqualTo(Duration.ofMillis(150));
    Path tooLong = java.nio.file.Files.writeString(dir.resolve("long.toml"),
        "[storage]\nbusy_timeout_ms = 1000\n[aggregator]\ngroup_max_ms = 600\n");
    assertThatThrownBy(() -> ConfigLoader.load(tooLong)).hasMessageContaining("aggregator.group_max_ms = 600 must be at "
        + "most half of storage.busy_timeout_ms = 1000, since a grant waits for a group's write lock; lower the one or "
        + "raise the other");
  }

  @Test
  void aPostgresStorageHasItsUrlUserPoolAndTimeoutsAndNoPath() {
    MeterdConfig config = ConfigLoader.parse("""
        [storage]
        kind = "postgres"
        url = "jdbc:postgresql://db.example.org:5432/meterd?sslmode=require"
        user = "meterd"
        """, "pg.toml");
    assertThat(config.storage()).isEqualTo(new MeterdConfig.Storage(null, 10_000, new MeterdConfig.Postgres(
        "jdbc:postgresql://db.example.org:5432/meterd?sslmode=require", "meterd", 4, 300_000, Duration.ofSeconds(30))));
    assertThat(config.storage().kind()).isEqualTo("postgres");
    assertThat(config.source().cloneDir()).isEqualTo(Path.of("data").toAbsolutePath().resolve("source-clone"));
    MeterdConfig set = ConfigLoader.parse("""
        [storage]
        kind = "postgres"
        url = "jdbc:postgresql://127.0.0.1/meterd"
        user = "billing"
        pool_size = 3
        busy_timeout_ms = 2000
        statement_timeout_ms = 2001
        lease_seconds = 5
        """, "pg.toml");
    assertThat(set.storage()).isEqualTo(new MeterdConfig.Storage(null, 2_000, new MeterdConfig.Postgres(
        "jdbc:postgresql://127.0.0.1/meterd", "billing", 3, 2_001, Duration.ofSeconds(5))));
    assertThat(ConfigLoader.parse("[storage]\nkind = \"sqlite\"\n", "s.toml").storage())
        .isEqualTo(new MeterdConfig.Storage(Path.of("data/meterd.db"), 10_000));
  }

  @Test
  void aLeaseNoLongerThanAGroupMayWaitIsRefused() {
    assertThatThrownBy(() -> ConfigLoader.parse("""
        [storage]
        kind = "postgres"
        url = "jdbc:postgresql://127.0.0.1/meterd"
        user = "m"
        lease_seconds = 2
        busy_timeout_ms = 10000
        [aggregator]
        group_max_ms = 2000
        """, "pg.toml"))
        .isInstanceOf(ConfigException.class)
        .hasMessage("invalid configuration pg.toml:\n  storage.lease_seconds = 2 must be more than "
            + "aggregator.group_max_ms = 2000 ms, since a transaction idle as long as a lease is ended by the server; "
            + "raise the one or lower the other");
    assertThatThrownBy(() -> ConfigLoader.parse("[storage]\nlease_seconds = 5\n", "s.toml"))
        .isInstanceOf(ConfigException.class)
        .hasMessageContaining("storage.lease_seconds applies to a PostgreSQL database only");
  }

  @Test
  void aPasswordInTheFileIsRefusedWithoutQuotingItAndPointsToTheEnvironment() {
    String file = "[storage]\nkind = \"postgres\"\nurl = \"jdbc:postgresql://h/m\"\nuser = \"m\"\n"
        + "password = \"hunter2-secret\"\n";
    assertThatThrownBy(() -> ConfigLoader.parse(file, "pg.toml"))
        .isInstanceOf(ConfigException.class)
        .hasMessage("invalid configuration pg.toml:\n  storage.password is not read from the configuration file: "
            + "remove it, and give the database password in the environment variable METERD_DB_PASSWORD");
  }

  @Test
  void aUrlCarryingAPasswordOrTheUserIsRefusedWithoutQuotingIt() {
    String must = "invalid configuration pg.toml:\n  storage.url must not carry ";
    java.util.Map<String, String> reasons = new java.util.LinkedHashMap<>();
    reasons.put("jdbc:postgresql://h/m?password=hunter2-secret", "a password (its parameter password): remove it, "
        + "and give the database password in the environment variable METERD_DB_PASSWORD");
    reasons.put("jdbc:postgresql://h/m?ssl=true&PASSWORD=hunter2-secret", "a password (its parameter password): "
        + "remove it, and give the database password in the environment variable METERD_DB_PASSWORD");
    reasons.put("jdbc:postgresql://h/m?sslpassword=hunter2-secret", "a password (its parameter sslpassword): remove "
        + "it, and give the database password in the environment variable METERD_DB_PASSWORD");
    reasons.put("jdbc:postgresql://h/m?user=other", "the user (its parameter user): give it as storage.user");
    assertEachRefused(reasons, url -> ConfigLoader.parse("[storage]\nkind = \"postgres\"\nuser = \"m\"\nurl = \""
        + url + "\"\n", "pg.toml"), must);
  }

  @Test
  void aPostgresStorageNeedsAJdbcUrlAndAUserAndTakesNoPath() {
    assertThatThrownBy(() -> ConfigLoader.parse("""
        [storage]
        kind = "postgres"
        path = "data/meterd.db"
        url = "postgres://127.0.0.1/meterd"
        """, "pg.toml"))
        .isInstanceOf(ConfigException.class)
        .hasMessage("""
            invalid configuration pg.toml:
              storage.path names a SQLite file and cannot be used with storage.kind = "postgres": remove it (the \
            database is storage.url)
              storage.url must be the JDBC URL of the PostgreSQL database, e.g. \
            "jdbc:postgresql://127.0.0.1:5432/meterd", when storage.kind = "postgres"
              storage.user must name the database user when storage.kind = "postgres" (its password comes from the \
            environment variable METERD_DB_PASSWORD)""");
  }

  @Test
  void theKeysOfPostgresAreRefusedOnSqliteAndAnUnknownKindIsRefused() {
    assertThatThrownBy(() -> ConfigLoader.parse("""
        [storage]
        url = "jdbc:postgresql://127.0.0.1/meterd"
        user = "meterd"
        pool_size = 8
        statement_timeout_ms = 60000
        """, "s.toml"))
        .isInstanceOf(ConfigException.class)
        .hasMessage("""
            invalid configuration s.toml:
              storage.url applies to a PostgreSQL database only: remove it, or set storage.kind = "postgres"
              storage.user applies to a PostgreSQL database only: remove it, or set storage.kind = "postgres"
              storage.pool_size applies to a PostgreSQL database only: remove it, or set storage.kind = "postgres"
              storage.statement_timeout_ms applies to a PostgreSQL database only: remove it, or set storage.kind = \
            "postgres\"""");
    assertThatThrownBy(() -> ConfigLoader.parse("[storage]\nkind = \"mysql\"\n", "s.toml"))
        .hasMessage("invalid configuration s.toml:\n  storage.kind = \"mysql\" is not supported; use \"sqlite\" or "
            + "\"postgres\"");
  }

  @Test
  void thePoolHoldsAtLeastALedgersThreeConnectionsAndStatementsOutlastTheLockWait() {
    assertThatThrownBy(() -> ConfigLoader.parse("""
        [storage]
        kind = "postgres"
        url = "jdbc:postgresql://127.0.0.1/meterd"
        user = "meterd"
        pool_size = 2
        busy_timeout_ms = 5000
        statement_timeout_ms = 5000
        """, "pg.toml"))
        .isInstanceOf(ConfigException.class)
        .hasMessage("""
            invalid configuration pg.toml:
              storage.pool_size must be 3 to 1000, got 2
              storage.statement_timeout_ms = 5000 must be more than storage.busy_timeout_ms = 5000, since a write's \
            wait for the write lock is one statement; raise the one or lower the other""");
  }
}
