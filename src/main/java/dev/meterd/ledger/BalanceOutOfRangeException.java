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
}
