package dev.meterd.policy;

/**
 * What a move of a wallet's balance causes: a top-up requested when a write leaves the balance
 * below the auto top-up threshold, the open request lifted when a credit brings the balance back
 * to it, and the wallet depleted when its balance goes below zero.
 */
public final class BalanceEvents {

  private BalanceEvents() {}

  /**
   * Whether a top-up is due after a write: auto top-up is on and the balance is below its
   * threshold. The store requests one only when none is open, so a balance that stays low asks
   * once per crossing, however many writes follow.
   */
  public static boolean topupDue(long balanceAfterCents, WalletSettings settings) {
    return settings.autoTopup() && balanceAfterCents < settings.autoTopupThresholdCents();
  }

  /** Whether a credit lifts an open top-up request: the balance is back at the threshold or above. */
  public static boolean topupLifted(long deltaCents, long balanceAfterCents, WalletSettings settings) {
    return deltaCents > 0 && balanceAfterCents >= settings.autoTopupThresholdCents();
  }

  /** Whether a move takes the balance from zero or more to below zero. */
  public static boolean depleted(long balanceBeforeCents, long balanceAfterCents) {
    return balanceBeforeCents >= 0 && balanceAfterCents < 0;
  }
}
