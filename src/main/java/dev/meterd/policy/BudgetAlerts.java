package dev.meterd.policy;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;

/**
 * Budget alerts: a wallet whose spend in a cycle (a UTC month) reaches a threshold, a percentage of
 * its monthly budget, is due that threshold's alert. The store fires each alert at most once per
 * wallet, threshold and cycle; this only says which are due.
 */
public final class BudgetAlerts {

  private BudgetAlerts() {}

  /** The thresholds when {@code [alerts] thresholds_pct} is not set. */
  public static final List<Integer> DEFAULT_THRESHOLDS_PCT = List.of(50, 80, 100);

  /**
   * The thresholds reached by a spend, in the order given; none when the budget is 0 (off).
   * Exact: {@code spent * 100 >= pct * budget} in arbitrary precision, never rounded.
   */
  public static List<Integer> reached(long spentCents, long budgetCents, List<Integer> thresholdsPct) {
    List<Integer> result = new ArrayList<>();
    if (budgetCents <= 0) {
      return result;
    }
    BigInteger spentTimes100 = BigInteger.valueOf(spentCents).multiply(BigInteger.valueOf(100));
    for (int pct : thresholdsPct) {
      if (spentTimes100.compareTo(BigInteger.valueOf(budgetCents).multiply(BigInteger.valueOf(pct))) >= 0) {
        result.add(pct);
      }
    }
    return result;
  }
}
