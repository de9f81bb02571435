package dev.meterd.ledger;

/**
 * A charge would take a wallet's spend on one day out of the 64-bit range of cents: the daily
 * counters only grow, so a wallet's usage of one UTC day is limited to 2^63 - 1 cents charged and
 * as many waived. Nothing of the operation was applied.
 */
public final class SpendOutOfRangeException extends LedgerException {

  public SpendOutOfRangeException(String userSid, String day, long countedCents, long addedCents) {
    super("the spend of wallet " + userSid + " on " + day + " (" + countedCents + " cents) cannot take " + addedCents
        + " cents more: it would leave the 64-bit range of cents; nothing was applied");
  }
}
