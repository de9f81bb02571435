package dev.meterd.policy;

/**
 * Whether a wallet may take on more work: the rule behind {@code GET /v1/authorize/{user}} and
 * {@code POST /v1/holds}. A wallet is refused, first reason first, when it is disabled, when it
 * reached its daily cap today, or when its available balance (balance less active holds) cannot
 * pay the cost. With enforcement off nothing is refused: what would have been is flagged
 * {@code low_balance}.
 *
 * <p>The order of the reasons goes from what no top-up can fix to what one can: a disabled wallet
 * stays refused whatever its balance, a capped one until the next UTC day, and only the last is
 * a matter of credit.
 */
public final class Authorization {

  private Authorization() {}

  /** Why a wallet is refused, as the API names it. */
  public enum Reason {
    WALLET_DISABLED("wallet_disabled"),
    DAILY_CAP_REACHED("daily_cap_reached"),
    INSUFFICIENT_BALANCE("insufficient_balance");

    private final String apiName;

    Reason(String apiName) {
      this.apiName = apiName;
    }

    public String apiName() {
      return apiName;
    }
  }

  /**
   * A wallet's credit at one moment; a wallet that does not exist is {@link #NONE}.
   *
   * @param balanceCents its balance
   * @param heldCents what its active, unexpired holds reserve (>= 0)
   * @param enabled false when an admin disabled it
   * @param dailyCapCents its daily cap, 0 for none
   * @param chargedTodayCents what it was charged for usage of today (UTC), >= 0
   */
  public record Credit(long balanceCents, long heldCents, boolean enabled, long dailyCapCents,
      long chargedTodayCents) {

    /** A user without a wallet: balance 0, nothing held, enabled, no cap. */
    public static final Credit NONE = new Credit(0, 0, true, 0, 0);

    public Credit {
      if (heldCents < 0 || dailyCapCents < 0 || chargedTodayCents < 0) {
        throw new IllegalArgumentException("held, daily cap and charged today must be >= 0, got " + heldCents + ", "
            + dailyCapCents + ", " + chargedTodayCents);
      }
    }

    /**
     * The balance less the active holds.
     *
     * @throws ArithmeticException the difference leaves the 64-bit range (a balance near its floor)
     */
    public long availableCents() {
      return Math.subtractExact(balanceCents, heldCents);
    }

    /** What may still be charged today under the cap, or null when there is none. */
    public Long dailyRemainingCents() {
      return DailyCap.remaining(chargedTodayCents, dailyCapCents);
    }
  }

  /**
   * The answer to a request.
   *
   * @param refusal why the request is (or, with enforcement off, would have been) refused; null
   *     when the wallet can take the work
   * @param enforced whether a refusal refuses; false: it only flags {@code low_balance}
   */
  public record Decision(Credit credit, Reason refusal, boolean enforced) {

    public boolean allowed() {
      return refusal == null || !enforced;
    }

    /** The {@code low_balance} of an allowed answer: it would have been refused under enforcement. */
    public boolean lowBalance() {
      return refusal != null;
    }
  }

  /**
   * Decides a request.
   *
   * @param costCents what the work will cost (>= 0), or null when the caller did not say: then a
   *     wallet with an available balance of 0 or less is refused
   * @param enforce {@code [enforcement] enabled}
   */
  public static Decision decide(Credit credit, Long costCents, boolean enforce) {
    if (costCents != null && costCents < 0) {
      throw new IllegalArgumentException("cost_cents must be >= 0, got " + costCents);
    }
    return new Decision(credit, refusal(credit, costCents), enforce);
  }

  private static Reason refusal(Credit credit, Long costCents) {
    if (!credit.enabled()) {
      return Reason.WALLET_DISABLED;
    }
    if (credit.dailyCapCents() > 0 && credit.chargedTodayCents() >= credit.dailyCapCents()) {
      return Reason.DAILY_CAP_REACHED;
    }
    long available = credit.availableCents();
    // available - cost < 0 written as a comparison, which cannot overflow.
    boolean lacking = costCents == null ? available <= 0 : available < costCents;
    return lacking ? Reason.INSUFFICIENT_BALANCE : null;
  }
}
