package dev.meterd.ledger;

import java.time.Instant;
import java.util.Locale;

/**
 * Credit reserved on a wallet for one record about to be written: the record of {@code node} with
 * {@code idempotencyKey}. While it counts it lowers the wallet's available balance.
 *
 * @param createdAt when it was placed
 * @param expiresAt from then on it no longer counts, whatever its state says
 * @param initiatedBy the name of the token that placed it
 * @param state active until its record is consumed (settled) or it is released
 * @param endedAt when it was settled or released; null while active
 * @param releasedBy the name of the token that released it, or null
 */
public record Hold(long holdId, String userSid, long amountCents, String node, String idempotencyKey,
    Instant createdAt, Instant expiresAt, String initiatedBy, State state, Instant endedAt, String releasedBy) {

  /** A hold's state as stored; expiry is a matter of time and is not stored. */
  public enum State {
    ACTIVE,
    SETTLED,
    RELEASED;

    String sqlName() {
      return name().toLowerCase(Locale.ROOT);
    }

    static State fromSql(String name) {
      return valueOf(name.toUpperCase(Locale.ROOT));
    }
  }

  /** Whether it lowers its wallet's available balance at {@code now}: active and not expired. */
  public boolean counts(Instant now) {
    return state == State.ACTIVE && now.isBefore(expiresAt);
  }

  /** Its state as the API shows it at {@code now}: {@code active}, {@code expired}, {@code settled} or {@code released}. */
  public String stateAt(Instant now) {
    return state == State.ACTIVE && !counts(now) ? "expired" : state.sqlName();
  }
}
