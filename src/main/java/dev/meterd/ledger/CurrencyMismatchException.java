package dev.meterd.ledger;

/**
 * The ledger keeps its amounts in another currency than the configured {@code [billing]
 * currency}: opening it would relabel every balance. Nothing was written to it. The operator
 * fixes the configuration; retrying as is cannot help.
 */
public final class CurrencyMismatchException extends RuntimeException {

  private final String kept;
  private final String configured;

  /** {@code setting} is the one that names the ledger: {@code [storage] path}, or {@code url} on PostgreSQL. */
  CurrencyMismatchException(String where, String setting, String kept, String configured) {
    super("the ledger " + where + " keeps its amounts in " + kept + " but [billing] currency is " + configured
        + ": set [billing] currency = \"" + kept + "\" again (a ledger's currency never changes: its balances would "
        + "be relabelled), or point " + setting + " at a new ledger for " + configured);
    this.kept = kept;
    this.configured = configured;
  }

  /** The currency the ledger keeps. */
  public String kept() {
    return kept;
  }

  /** The currency it was opened with. */
  public String configured() {
    return configured;
  }
}
