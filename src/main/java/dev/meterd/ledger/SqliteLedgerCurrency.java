package dev.meterd.ledger;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The currency a ledger keeps its cents in (table {@code ledger_meta}), checked against the
 * configured one each time the ledger is opened, before anything else reads or writes it: a
 * ledger started in USD and opened as EUR would show every balance in the wrong currency.
 */
final class SqliteLedgerCurrency {

  private static final Pattern ISO_4217 = Pattern.compile("[A-Z]{3}");

  private SqliteLedgerCurrency() {}

  /** Refuses a code that cannot be a currency: a defect in the caller, not the operator's mistake. */
  static void checkCode(String currency) {
    if (currency == null || !ISO_4217.matcher(currency).matches()) {
      throw new IllegalArgumentException("a ledger's currency is an upper-case ISO 4217 code such as USD, got "
          + currency);
    }
  }

  /**
   * Refuses a ledger that keeps another currency. Called before the schema is upgraded, so that a
   * refused ledger is not written at all.
   *
   * @throws CurrencyMismatchException the ledger keeps another currency
   */
  static void refuseAnother(Connection conn, Engine engine, String where, String currency) throws SQLException {
    Optional<String> kept = kept(conn, engine);
    if (kept.isPresent()) {
      check(engine, where, kept.get(), currency);
    }
  }

  /**
   * Records {@code currency} as the ledger's when it keeps none yet (it is new, or was upgraded
   * from a version before the currency was recorded: its cents were in the configured currency
   * then, as far as meterd can know), then refuses it if the ledger keeps another. The insert
   * leaves a row another process recorded first in place; what the table then holds decides.
   *
   * @throws CurrencyMismatchException the ledger keeps another currency
   */
  static void recordIfAbsent(Connection conn, Engine engine, String where, String currency, Instant now)
      throws SQLException {
    Optional<String> kept = kept(conn, engine);
    if (kept.isEmpty()) {
      kept = engine.inWrite(conn, () -> {
        try (PreparedStatement ps = conn.prepareStatement("INSERT INTO ledger_meta (id, currency, "
            + "currency_recorded_at) VALUES (1, ?, ?) ON CONFLICT (id) DO NOTHING")) {
          ps.setString(1, currency);
          ps.setString(2, now.toString());
          ps.executeUpdate();
          return kept(conn, engine);
        }
      });
    }
    check(engine, where, kept.orElseThrow(() -> new SQLException("ledger_meta holds no currency right after it was "
        + "recorded")), currency);
  }

  private static void check(Engine engine, String where, String kept, String configured) {
    if (!kept.equals(configured)) {
      throw new CurrencyMismatchException(where, engine.setting(), kept, configured);
    }
  }

  /** The currency the ledger keeps; empty before schema version 8 or before it was recorded. */
  private static Optional<String> kept(Connection conn, Engine engine) throws SQLException {
    if (!engine.hasTable(conn, "ledger_meta")) {
      return Optional.empty();
    }
    try (Statement st = conn.createStatement();
        ResultSet rs = st.executeQuery("SELECT currency FROM ledger_meta WHERE id = 1")) {
      return rs.next() ? Optional.of(rs.getString(1)) : Optional.empty();
    }
  }
}
