package dev.meterd.ledger;

/**
 * A change would take a wallet's balance out of the 64-bit range of cents; nothing of the
 * operation was applied. Retrying the same change fails the same way until the balance has
 * moved.
 */
public final class BalanceOutOfRangeException extends LedgerException {

  public BalanceOutOfRangeException(String userSid, long balanceCents, long changeCents) {
    super("the balance of wallet " + userSid + " (" + balanceCents + " cents) cannot take a change of " + changeCents
        + " cents: it would leave the 64-bit range of cents; nothing was applied");
  }

  private BalanceOutOfRangeException(String message) {
    super(message);
  }

  /** A new hold would take what a wallet's holds reserve out of the 64-bit range of cents. */
  static BalanceOutOfRangeException held(String userSid, long heldCents, long amountCents) {
    return new BalanceOutOfRangeException("the holds on wallet " + userSid + " reserve " + heldCents
        + " cents and cannot take another " + amountCents + ": the sum would leave the 64-bit range of cents; "
        + "release some holds first; nothing was applied");
  }
}
