package dev.meterd.ledger;

import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * Unapplied payments in the SQLite store (table {@code unapplied_payment}): kept by an insert the
 * event id's unique constraint refuses for an event kept before (never a check first), so of
 * twenty deliveries of one event exactly one keeps it; the others read what it kept.
 */
final class SqliteUnappliedPayments implements UnappliedPayments {

  private static final String COLUMNS = "event_id, payment_intent_id, user_sid, amount, currency, reason, received_at";

  private final SqliteDb db;

  SqliteUnappliedPayments(SqliteDb db) {
    this.db = db;
  }

  @Override
  public Outcome keep(UnappliedPayment payment) {
    return db.write("keep the unapplied payment of event " + payment.eventId(), () -> {
      PreparedStatement insert = db.stmt("INSERT INTO unapplied_payment (" + COLUMNS + ") VALUES (?, ?, ?, ?, ?, ?, ?) "
          + "ON CONFLICT (event_id) DO NOTHING");
      insert.setString(1, payment.eventId());
      insert.setString(2, payment.paymentIntentId());
      insert.setString(3, payment.userSid());
      insert.setLong(4, payment.amount());
      insert.setString(5, payment.currency());
      insert.setString(6, payment.reason());
      insert.setString(7, payment.receivedAt().toString());
      if (insert.executeUpdate() == 1) {
        return new Outcome.Kept(payment);
      }
      PreparedStatement before = db.stmt("SELECT " + COLUMNS + " FROM unapplied_payment WHERE event_id = ?");
      before.setString(1, payment.eventId());
      List<UnappliedPayment> kept = payments(before);
      if (kept.size() != 1) {
        throw new SQLException("the unapplied payment of event " + payment.eventId()
            + " was refused as kept before but cannot be read");
      }
      return new Outcome.KeptBefore(kept.get(0));
    });
  }

  @Override
  public List<UnappliedPayment> newestFirst(int limit) {
    return db.query("list the unapplied payments", () -> {
      PreparedStatement ps = db.stmt("SELECT " + COLUMNS + " FROM unapplied_payment ORDER BY unapplied_id DESC "
          + "LIMIT ?");
      ps.setInt(1, limit);
      return payments(ps);
    });
  }

  @Override
  public long count() {
    return db.query("count the unapplied payments", () -> {
      try (ResultSet rs = db.stmt("SELECT count(*) FROM unapplied_payment").executeQuery()) {
        rs.next();
        return rs.getLong(1);
      }
    });
  }

  private static List<UnappliedPayment> payments(PreparedStatement ps) throws SQLException {
    List<UnappliedPayment> result = new ArrayList<>();
    try (ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        result.add(new UnappliedPayment(rs.getString(1), rs.getString(2), rs.getString(3), rs.getLong(4),
            rs.getString(5), rs.getString(6), Instant.parse(rs.getString(7))));
      }
    }
    return result;
  }
}
