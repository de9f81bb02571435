package dev.meterd.policy;

import java.util.List;

/**
 * The operator's rules of prepaid credit, from the configuration.
 *
 * @param alertThresholdsPct the budget alerts' thresholds, percentages of a monthly budget, ascending
 */
public record CreditRules(List<Integer> alertThresholdsPct) {

  public static final CreditRules DEFAULT = new CreditRules(BudgetAlerts.DEFAULT_THRESHOLDS_PCT);

  public CreditRules {
    alertThresholdsPct = List.copyOf(alertThresholdsPct);
    int previous = 0;
    for (int pct : alertThresholdsPct) {
      if (pct <= previous || pct > 1000) {
        throw new IllegalArgumentException("alert thresholds must be ascending percentages from 1 to 1000, got "
            + alertThresholdsPct);
      }
      previous = pct;
    }
  }
}
