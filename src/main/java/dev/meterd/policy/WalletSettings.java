package dev.meterd.policy;

/**
 * A wallet's credit policy. Every amount is integer cents, 0 meaning off.
 *
 * @param monthlyBudgetCents the spend per UTC month that alerts are measured against
 * @param dailyCapCents the most a UTC day's usage is charged; the rest is waived
 * @param autoTopupThresholdCents a balance going below it requests a top-up
 * @param autoTopupAmountCents the top-up requested
 * @param enabled a disabled wallet is refused by authorize and holds (its usage is still charged)
 */
public record WalletSettings(long monthlyBudgetCents, long dailyCapCents, long autoTopupThresholdCents,
    long autoTopupAmountCents, boolean enabled) {

  /** A new wallet's: every policy off, enabled. */
  public static final WalletSettings DEFAULT = new WalletSettings(0, 0, 0, 0, true);

  public WalletSettings {
    requireNonNegative("monthly_budget_cents", monthlyBudgetCents);
    requireNonNegative("daily_cap_cents", dailyCapCents);
    requireNonNegative("auto_topup_threshold_cents", autoTopupThresholdCents);
    requireNonNegative("auto_topup_amount_cents", autoTopupAmountCents);
  }

  private static void requireNonNegative(String name, long cents) {
    if (cents < 0) {
      throw new IllegalArgumentException(name + " must be >= 0 (0 is off), got " + cents);
    }
  }

  /** Whether auto top-up is on: both its threshold and its amount are set. */
  public boolean autoTopup() {
    return autoTopupThresholdCents > 0 && autoTopupAmountCents > 0;
  }

  /**
   * A change to some of the settings; null fields keep their value.
   */
  public record Patch(Long monthlyBudgetCents, Long dailyCapCents, Long autoTopupThresholdCents,
      Long autoTopupAmountCents, Boolean enabled) {

    public boolean empty() {
      return monthlyBudgetCents == null && dailyCapCents == null && autoTopupThresholdCents == null
          && autoTopupAmountCents == null && enabled == null;
    }

    /** {@code settings} with this patch applied. */
    public WalletSettings applyTo(WalletSettings settings) {
      return new WalletSettings(
          monthlyBudgetCents != null ? monthlyBudgetCents : settings.monthlyBudgetCents(),
          dailyCapCents != null ? dailyCapCents : settings.dailyCapCents(),
          autoTopupThresholdCents != null ? autoTopupThresholdCents : settings.autoTopupThresholdCents(),
          autoTopupAmountCents != null ? autoTopupAmountCents : settings.autoTopupAmountCents(),
          enabled != null ? enabled : settings.enabled());
    }
  }
}
