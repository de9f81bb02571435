package dev.meterd.ledger;

import io.vertx.core.json.JsonObject;
import java.security.SecureRandom;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;

/**
 * The outbox in the SQLite store: {@link #append}, which the store's writes call inside their own
 * transaction, and the delivery side ({@link Outbox}), each call one short statement or
 * transaction on the shared connection.
 */
final class SqliteOutbox implements Outbox {

  private static final String COLUMNS = "event_seq, event_id, type, created_at_ms, body, status, attempts, "
      + "next_attempt_at_ms, last_attempt_at_ms, last_error, last_status_code, delivered_at_ms, failed_at_ms, "
      + "retried_by, retried_at_ms";
  private static final String DUE = "status = 'pending' AND next_attempt_at_ms <= ?";
  /** A receiver's error text is kept to this many characters. */
  static final int MAX_ERROR_CHARS = 500;

  private final SqliteDb db;
  private final SecureRandom random = new SecureRandom();

  SqliteOutbox(SqliteDb db) {
    this.db = db;
  }

  /**
   * Writes an event, due at once, inside the caller's open write transaction (holding the
   * {@link SqliteDb}): it commits or rolls back with the write that caused it. The id is random
   * (128 bits), stored with the event and sent on every attempt.
   *
   * @param data the event's {@code data} member
   * @return the event's id
   */
  String append(EventType type, JsonObject data) throws SQLException {
    if (!Thread.holdsLock(db)) {
      throw new IllegalStateException("an outbox event must be written inside the write that causes it");
    }
    byte[] bytes = new byte[16];
    random.nextBytes(bytes);
    String id = "evt_" + HexFormat.of().formatHex(bytes);
    Instant now = db.clock.instant();
    String body = new JsonObject().put("type", type.wireName()).put("id", id).put("created_at", now.toString())
        .put("data", data).encode();
    PreparedStatement ps = db.stmt("INSERT INTO outbox_event (event_id, type, created_at_ms, body, "
        + "next_attempt_at_ms) VALUES (?, ?, ?, ?, ?)");
    ps.setString(1, id);
    ps.setString(2, type.wireName());
    ps.setLong(3, now.toEpochMilli());
    ps.setString(4, body);
    ps.setLong(5, now.toEpochMilli());
    ps.executeUpdate();
    return id;
  }

  @Override
  public List<Delivery> claimDue(int limit, Duration lease) {
    // A read first, so that the worker's idle poll never takes the write lock.
    boolean any = db.query("look for due webhook events", () -> {
      PreparedStatement ps = db.stmt("SELECT 1 FROM outbox_event WHERE " + DUE + " LIMIT 1");
      ps.setLong(1, db.clock.millis());
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next();
      }
    });
    if (!any) {
      return List.of();
    }
    return db.write("claim due webhook events", () -> {
      long now = db.clock.millis();
      PreparedStatement select = db.stmt("SELECT " + COLUMNS + " FROM outbox_event WHERE " + DUE
          + " ORDER BY event_seq LIMIT ?");
      select.setLong(1, now);
      select.setInt(2, limit);
      List<Delivery> due = list(select);
      PreparedStatement claim = db.stmt("UPDATE outbox_event SET attempts = attempts + 1, last_attempt_at_ms = ?, "
          + "next_attempt_at_ms = ? WHERE event_seq = ?");
      List<Delivery> claimed = new ArrayList<>();
      for (Delivery d : due) {
        claim.setLong(1, now);
        claim.setLong(2, Math.addExact(now, lease.toMillis()));
        claim.setLong(3, d.seq());
        claim.executeUpdate();
        claimed.add(byId(d.eventId()).orElseThrow());
      }
      return claimed;
    });
  }

  @Override
  public void markDelivered(String eventId, int statusCode) {
    db.write("record the delivery of webhook event " + eventId, () -> {
      PreparedStatement ps = db.stmt("UPDATE outbox_event SET status = 'delivered', delivered_at_ms = ?, "
          + "last_status_code = ?, last_error = NULL WHERE event_id = ? AND status = 'pending'");
      ps.setLong(1, db.clock.millis());
      ps.setInt(2, statusCode);
      ps.setString(3, eventId);
      return ps.executeUpdate();
    });
  }

  @Override
  public void markRetry(String eventId, String error, Integer statusCode, Instant nextAttemptAt) {
    db.write("record a failed delivery of webhook event " + eventId, () -> {
      PreparedStatement ps = db.stmt("UPDATE outbox_event SET next_attempt_at_ms = ?, last_error = ?, "
          + "last_status_code = ? WHERE event_id = ? AND status = 'pending'");
      ps.setLong(1, nextAttemptAt.toEpochMilli());
      ps.setString(2, clip(error));
      SqliteDb.setNullableInt(ps, 3, statusCode);
      ps.setString(4, eventId);
      return ps.executeUpdate();
    });
  }

  @Override
  public void markFailed(String eventId, String error, Integer statusCode) {
    db.write("give up the delivery of webhook event " + eventId, () -> {
      PreparedStatement ps = db.stmt("UPDATE outbox_event SET status = 'failed', failed_at_ms = ?, last_error = ?, "
          + "last_status_code = ? WHERE event_id = ? AND status = 'pending'");
      ps.setLong(1, db.clock.millis());
      ps.setString(2, clip(error));
      SqliteDb.setNullableInt(ps, 3, statusCode);
      ps.setString(4, eventId);
      return ps.executeUpdate();
    });
  }

  private static String clip(String error) {
    return error == null || error.length() <= MAX_ERROR_CHARS ? error : error.substring(0, MAX_ERROR_CHARS - 1) + "…";
  }

  @Override
  public List<Delivery> deliveries(Delivery.Status status, Long beforeSeq, int limit) {
    return db.query("list the webhook deliveries", () -> {
      PreparedStatement ps = db.stmt("SELECT " + COLUMNS + " FROM outbox_event WHERE event_seq < ? "
          + "AND (? IS NULL OR status = ?) ORDER BY event_seq DESC LIMIT ?");
      ps.setLong(1, beforeSeq == null ? Long.MAX_VALUE : beforeSeq);
      ps.setString(2, status == null ? null : status.sqlName());
      ps.setString(3, status == null ? null : status.sqlName());
      ps.setInt(4, limit);
      return list(ps);
    });
  }

  @Override
  public Optional<Delivery> delivery(String eventId) {
    return db.query("read webhook event " + eventId, () -> byId(eventId));
  }

  @Override
  public Optional<Delivery> retryNow(String eventId, String by) {
    return db.write("retry webhook event " + eventId, () -> {
      PreparedStatement ps = db.stmt("UPDATE outbox_event SET status = 'pending', failed_at_ms = NULL, "
          + "next_attempt_at_ms = ?, retried_by = ?, retried_at_ms = ? WHERE event_id = ? AND status <> 'delivered'");
      long now = db.clock.millis();
      ps.setLong(1, now);
      ps.setString(2, by);
      ps.setLong(3, now);
      ps.setString(4, eventId);
      ps.executeUpdate();
      return byId(eventId);
    });
  }

  private Optional<Delivery> byId(String eventId) throws SQLException {
    PreparedStatement ps = db.stmt("SELECT " + COLUMNS + " FROM outbox_event WHERE event_id = ?");
    ps.setString(1, eventId);
    List<Delivery> found = list(ps);
    return found.isEmpty() ? Optional.empty() : Optional.of(found.get(0));
  }

  private static List<Delivery> list(PreparedStatement ps) throws SQLException {
    List<Delivery> result = new ArrayList<>();
    try (ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        Delivery.Status status = Delivery.Status.valueOf(rs.getString(6).toUpperCase(java.util.Locale.ROOT));
        result.add(new Delivery(rs.getLong(1), rs.getString(2), rs.getString(3), instant(rs, 4), rs.getString(5),
            status, rs.getInt(7), status == Delivery.Status.PENDING ? instant(rs, 8) : null, instant(rs, 9),
            rs.getString(10), integer(rs, 11), instant(rs, 12), instant(rs, 13), rs.getString(14), instant(rs, 15)));
      }
    }
    return result;
  }

  private static Instant instant(ResultSet rs, int column) throws SQLException {
    long ms = rs.getLong(column);
    return rs.wasNull() ? null : Instant.ofEpochMilli(ms);
  }

  private static Integer integer(ResultSet rs, int column) throws SQLException {
    int value = rs.getInt(column);
    return rs.wasNull() ? null : value;
  }
}
