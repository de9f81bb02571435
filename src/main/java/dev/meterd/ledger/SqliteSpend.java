package dev.meterd.ledger;

import dev.meterd.policy.BudgetAlerts;
import dev.meterd.policy.CreditRules;
import dev.meterd.policy.WalletSettings;
import io.vertx.core.json.JsonObject;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.time.LocalDate;
import java.time.YearMonth;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * A wallet's spend per UTC day ({@code daily_spend}) and its budget alerts, inside a write
 * transaction the caller holds. A cycle's spend is the sum of its days' charges.
 *
 * <p>An alert is claimed by an insert that the primary key (wallet, cycle, threshold) refuses when
 * it fired before: never a check first. So an alert fires at most once, ever, whichever write (a
 * node's charges, {@code alerts run}, in any process) reaches its threshold first.
 */
final class SqliteSpend {

  private static final long MS_PER_DAY = 86_400_000L;

  private final SqliteDb db;
  private final CreditRules rules;
  private final SqliteOutbox outbox;

  SqliteSpend(SqliteDb db, CreditRules rules, SqliteOutbox outbox) {
    this.db = db;
    this.rules = rules;
    this.outbox = outbox;
  }

  /** The UTC day of an instant, as epoch days. */
  static long epochDay(long epochMillis) {
    return Math.floorDiv(epochMillis, MS_PER_DAY);
  }

  static String dayText(long epochDay) {
    return LocalDate.ofEpochDay(epochDay).toString();
  }

  static String cycleOf(long epochDay) {
    return YearMonth.from(LocalDate.ofEpochDay(epochDay)).toString();
  }

  /** What a wallet was charged on a day before this transaction's own additions. */
  long chargedOn(long walletId, long epochDay) throws SQLException {
    DaySpend known = db.remembered(new DayKey(walletId, epochDay));
    if (known != null) {
      return known.chargedCents();
    }
    PreparedStatement ps = db.stmt("SELECT charged_cents FROM daily_spend WHERE wallet_id = ? AND day = ?");
    ps.setLong(1, walletId);
    ps.setString(2, dayText(epochDay));
    try (ResultSet rs = ps.executeQuery()) {
      return rs.next() ? rs.getLong(1) : 0;
    }
  }

  /** A day's charged and waived cents to add to a wallet's counter; {@code userSid} names it in an error. */
  record DayAddition(long walletId, String userSid, long epochDay, long chargedCents, long waivedCents) {}

  private static final MultiRowSql UPSERT_DAYS = MultiRowSql.rows("INSERT INTO daily_spend (wallet_id, day, "
      + "charged_cents, waived_cents) VALUES", 4, " ON CONFLICT (wallet_id, day) DO UPDATE SET "
      + "charged_cents = excluded.charged_cents, waived_cents = excluded.waived_cents", 100);

  /**
   * Adds to the counters, each (wallet, day) at most once, in one statement per hundred: the
   * sums are made in Java with {@code addExact} (SQLite would turn an overflowing sum into a REAL),
   * all of them before anything is written.
   *
   * @throws SpendOutOfRangeException a sum leaves the 64-bit range; the caller rolls back
   */
  void addAll(List<DayAddition> additions) throws SQLException {
    List<DayAddition> sums = new ArrayList<>(additions.size());
    Set<DayKey> seen = new HashSet<>();
    for (DayAddition a : additions) {
      if (!seen.add(new DayKey(a.walletId(), a.epochDay()))) {
        throw new IllegalArgumentException("wallet " + a.walletId() + " has day " + dayText(a.epochDay())
            + " twice in one call");
      }
      DaySpend before = daySpend(a.walletId(), a.epochDay());
      long charged;
      long waived;
      try {
        charged = Math.addExact(before.chargedCents(), a.chargedCents());
      } catch (ArithmeticException e) {
        throw new SpendOutOfRangeException(a.userSid(), dayText(a.epochDay()), before.chargedCents(), a.chargedCents());
      }
      try {
        waived = Math.addExact(before.waivedCents(), a.waivedCents());
      } catch (ArithmeticException e) {
        throw new SpendOutOfRangeException(a.userSid(), dayText(a.epochDay()), before.waivedCents(), a.waivedCents());
      }
      sums.add(new DayAddition(a.walletId(), a.userSid(), a.epochDay(), charged, waived));
    }
    UPSERT_DAYS.writeAll(db, sums, "daily counters", (ps, chunk) -> {
      int p = 0;
      for (DayAddition sum : chunk) {
        ps.setLong(++p, sum.walletId());
        ps.setString(++p, dayText(sum.epochDay()));
        ps.setLong(++p, sum.chargedCents());
        ps.setLong(++p, sum.waivedCents());
      }
    });
    for (DayAddition sum : sums) {
      db.remember(new DayKey(sum.walletId(), sum.epochDay()), new DaySpend(sum.chargedCents(), sum.waivedCents()));
    }
  }

  /** A wallet's counter of one day; within a group of node runs, read once. */
  private record DaySpend(long chargedCents, long waivedCents) {}

  /** A counter's key among what the group remembers. */
  private record DayKey(long walletId, long epochDay) {}

  private DaySpend daySpend(long walletId, long epochDay) throws SQLException {
    DaySpend known = db.remembered(new DayKey(walletId, epochDay));
    if (known != null) {
      return known;
    }
    PreparedStatement read = db.stmt("SELECT charged_cents, waived_cents FROM daily_spend WHERE wallet_id = ? AND day = ?");
    read.setLong(1, walletId);
    read.setString(2, dayText(epochDay));
    try (ResultSet rs = read.executeQuery()) {
      return rs.next() ? new DaySpend(rs.getLong(1), rs.getLong(2)) : new DaySpend(0, 0);
    }
  }

  /** A wallet's charges in a cycle: the sum of its days. */
  long cycleSpend(long walletId, String cycle) throws SQLException {
    PreparedStatement ps = db.stmt(
        "SELECT coalesce(sum(charged_cents), 0) FROM daily_spend WHERE wallet_id = ? AND day >= ? AND day < ?");
    YearMonth month = YearMonth.parse(cycle);
    ps.setLong(1, walletId);
    ps.setString(2, month.atDay(1).toString());
    ps.setString(3, month.plusMonths(1).atDay(1).toString());
    try (ResultSet rs = ps.executeQuery()) {
      rs.next();
      return rs.getLong(1);
    }
  }

  /**
   * Fires the alerts a wallet's spend in a cycle has reached and that have not fired yet.
   *
   * @param asOfTxnId the newest ledger transaction of this write (the spend includes it)
   * @param dryRun when true, returns what would fire and writes nothing
   * @return the alerts fired now, lowest threshold first
   */
  List<BudgetAlert> fireDue(long walletId, String userSid, WalletSettings settings, String cycle, long asOfTxnId,
      Instant now, boolean dryRun) throws SQLException {
    List<BudgetAlert> fired = new ArrayList<>();
    if (!settings.enabled() || settings.monthlyBudgetCents() == 0) {
      return fired;
    }
    long spent = cycleSpend(walletId, cycle);
    for (int pct : BudgetAlerts.reached(spent, settings.monthlyBudgetCents(), rules.alertThresholdsPct())) {
      BudgetAlert alert = new BudgetAlert(userSid, pct, cycle, spent, settings.monthlyBudgetCents(), now);
      if (dryRun ? !alertExists(walletId, cycle, pct) : claim(walletId, cycle, pct, spent, settings, now, asOfTxnId)) {
        if (!dryRun) {
          outbox.append(EventType.ALERT_FIRED, new JsonObject().put("user_sid", userSid).put("threshold_pct", pct)
              .put("cycle", cycle).put("spent_cents", spent).put("budget_cents", settings.monthlyBudgetCents())
              .put("fired_at", now.toString()));
        }
        fired.add(alert);
      }
    }
    return fired;
  }

  private boolean claim(long walletId, String cycle, int pct, long spent, WalletSettings settings, Instant now,
      long asOfTxnId) throws SQLException {
    PreparedStatement ps = db.stmt("INSERT INTO budget_alert (wallet_id, cycle, threshold_pct, spent_cents, "
        + "budget_cents, fired_at, as_of_txn_id) VALUES (?, ?, ?, ?, ?, ?, ?) "
        + "ON CONFLICT (wallet_id, cycle, threshold_pct) DO NOTHING");
    ps.setLong(1, walletId);
    ps.setString(2, cycle);
    ps.setInt(3, pct);
    ps.setLong(4, spent);
    ps.setLong(5, settings.monthlyBudgetCents());
    ps.setString(6, now.toString());
    ps.setLong(7, asOfTxnId);
    return ps.executeUpdate() == 1;
  }

  private boolean alertExists(long walletId, String cycle, int pct) throws SQLException {
    PreparedStatement ps = db.stmt(
        "SELECT 1 FROM budget_alert WHERE wallet_id = ? AND cycle = ? AND threshold_pct = ?");
    ps.setLong(1, walletId);
    ps.setString(2, cycle);
    ps.setInt(3, pct);
    try (ResultSet rs = ps.executeQuery()) {
      return rs.next();
    }
  }
}
