package dev.meterd.policy;

/**
 * The daily cap: a UTC day's charges for a wallet never exceed it. A record that would cross it is
 * charged the remainder, and the rest of its cost is waived, so every cent of usage is explained.
 */
public final class DailyCap {

  private DailyCap() {}

  /**
   * What a record's cost is charged and waived.
   *
   * @param chargedCents what is charged of it (0 to {@code costCents})
   * @param waivedCents the rest
   */
  public record Split(long chargedCents, long waivedCents) {}

  /**
   * Splits a record's cost.
   *
   * @param costCents the record's cost, >= 0
   * @param chargedTodayCents what the wallet was charged so far on the record's day, >= 0
   * @param capCents the wallet's daily cap, 0 for none
   */
  public static Split split(long costCents, long chargedTodayCents, long capCents) {
    if (costCents < 0 || chargedTodayCents < 0 || capCents < 0) {
      throw new IllegalArgumentException("cost, day's charges and cap must be >= 0, got " + costCents + ", "
          + chargedTodayCents + ", " + capCents);
    }
    if (capCents == 0) {
      return new Split(costCents, 0);
    }
    long room = Math.max(0, capCents - chargedTodayCents);
    long charged = Math.min(costCents, room);
    return new Split(charged, costCents - charged);
  }

  /** What may still be charged today under the cap, or null when the wallet has none. */
  public static Long remaining(long chargedTodayCents, long capCents) {
    return capCents == 0 ? null : Math.max(0, capCents - chargedTodayCents);
  }
}
