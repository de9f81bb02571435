package dev.meterd.ledger;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.time.Instant;
import java.util.Optional;

/**
 * The {@code idempotency_key} table, used inside a write transaction the caller holds: claim the
 * key, write, store the answer, commit. The claim is an insert the primary key refuses for a key
 * already stored (never a check in memory first), so of two requests with one key, in this
 * process or another, exactly one writes; the other reads what it answered. Any money-moving
 * write (grants today; top-ups, refunds and holds later) guards itself the same way.
 *
 * <p>Statements are prepared per call rather than cached: these writes are few, and a failed one
 * leaves no finalized statement behind for the next write to trip on.
 */
final class SqliteIdempotencyKeys {

  private SqliteIdempotencyKeys() {}

  /**
   * Forgets keys past {@link Idempotent#RETENTION}, then claims {@code claim}'s key for this
   * transaction.
   *
   * @return empty when the key is now this transaction's to answer; else what to answer instead
   *     of writing
   */
  static Optional<Idempotent> claim(Connection conn, Idempotent.Claim claim, Instant now) throws SQLException {
    try (PreparedStatement purge = conn.prepareStatement("DELETE FROM idempotency_key WHERE created_at_ms < ?")) {
      purge.setLong(1, now.minus(Idempotent.RETENTION).toEpochMilli());
      purge.executeUpdate();
    }
    try (PreparedStatement insert = conn.prepareStatement("INSERT INTO idempotency_key (idem_key, fingerprint, "
        + "initiated_by, created_at_ms) VALUES (?, ?, ?, ?) ON CONFLICT (idem_key) DO NOTHING")) {
      insert.setString(1, claim.key());
      insert.setString(2, claim.fingerprint());
      insert.setString(3, claim.initiatedBy());
      insert.setLong(4, now.toEpochMilli());
      if (insert.executeUpdate() == 1) {
        return Optional.empty();
      }
    }
    return Optional.of(stored(conn, claim));
  }

  private static Idempotent stored(Connection conn, Idempotent.Claim claim) throws SQLException {
    try (PreparedStatement ps = conn.prepareStatement(
        "SELECT fingerprint, status, response FROM idempotency_key WHERE idem_key = ?")) {
      ps.setString(1, claim.key());
      try (ResultSet rs = ps.executeQuery()) {
        if (!rs.next() || rs.getString(3) == null) {
          // A claim is answered in the transaction that made it, so neither can be seen here.
          throw new SQLException("idempotency key " + claim.key() + " was refused but has no stored answer");
        }
        if (!rs.getString(1).equals(claim.fingerprint())) {
          return new Idempotent.KeyReused(claim.key());
        }
        return new Idempotent.Replayed(new Idempotent.Response(rs.getInt(2), rs.getString(3)));
      }
    }
  }

  /** Stores the answer under a key this transaction claimed, with the transaction it wrote (or null). */
  static void answer(Connection conn, String key, Idempotent.Response response, Long txnId) throws SQLException {
    try (PreparedStatement ps = conn.prepareStatement(
        "UPDATE idempotency_key SET status = ?, response = ?, txn_id = ? WHERE idem_key = ?")) {
      ps.setInt(1, response.status());
      ps.setString(2, response.body());
      if (txnId == null) {
        ps.setNull(3, Types.INTEGER);
      } else {
        ps.setLong(3, txnId);
      }
      ps.setString(4, key);
      if (ps.executeUpdate() != 1) {
        throw new SQLException("idempotency key " + key + " was not claimed by this transaction");
      }
    }
  }
}
