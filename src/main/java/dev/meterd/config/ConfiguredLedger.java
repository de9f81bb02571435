package dev.meterd.config;

import dev.meterd.ledger.PostgresLedger;
import dev.meterd.ledger.SqliteLedger;
import dev.meterd.policy.CreditRules;
import java.time.Clock;
import java.util.Map;

/**
 * Opens the ledger {@code [storage]} names: the SQLite file, or the PostgreSQL database with the
 * password from the environment. Every command and the daemon open their ledgers here.
 */
public final class ConfiguredLedger {

  private ConfiguredLedger() {}

  /**
   * A ledger of its own (the caller closes it), with the configured timeouts, credit rules and
   * currency.
   *
   * @param env the environment, where PostgreSQL's password is {@value MeterdConfig.Postgres#PASSWORD_ENV}
   *     (unset or empty: none is sent, for a server that asks none)
   * @throws dev.meterd.ledger.CurrencyMismatchException the ledger keeps another currency than
   *     {@code [billing] currency}
   * @throws dev.meterd.ledger.LedgerException the database cannot be opened
   */
  public static SqliteLedger open(MeterdConfig config, Map<String, String> env, Clock clock) {
    MeterdConfig.Storage storage = config.storage();
    CreditRules rules = new CreditRules(config.credit().alertThresholdsPct());
    String currency = config.credit().currency();
    MeterdConfig.Postgres pg = storage.postgres();
    if (pg == null) {
      return SqliteLedger.open(storage.path(), clock, storage.busyTimeoutMs(), rules, currency);
    }
    String password = env.get(MeterdConfig.Postgres.PASSWORD_ENV);
    return PostgresLedger.open(pg.url(), pg.user(), password == null || password.isEmpty() ? null : password, clock,
        new PostgresLedger.Settings(storage.busyTimeoutMs(), pg.statementTimeoutMs(), pg.poolSize()), rules, currency,
        new PostgresLedger.Sharing(PostgresLedger.PROCESS_HOLDER, pg.lease()));
  }
}
