package dev.meterd.ledger;

import dev.meterd.policy.WalletSettings;
import java.time.Instant;

/**
 * A prepaid credit wallet. Its balance always equals the sum of its transactions.
 *
 * @param userSid the user the wallet belongs to
 * @param balanceCents may be below zero: usage is never dropped for lack of credit
 * @param settings its credit policy
 */
public record Wallet(String userSid, long balanceCents, Instant createdAt, Instant updatedAt,
    WalletSettings settings) {

  /** A wallet whose balance went below zero. */
  public boolean depleted() {
    return balanceCents < 0;
  }
}
