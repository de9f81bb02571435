package dev.meterd.ledger;

import dev.meterd.policy.Authorization;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;

/**
 * Holds in the SQLite store: placed and released by the API and the wallet page, each one write
 * transaction, settled inside a node's transaction when their record is consumed ({@link #settle}),
 * and listed for the wallet page ({@link #active}).
 *
 * <p>A hold's decision reads the wallet inside the {@code BEGIN IMMEDIATE} transaction that
 * inserts it, never the cache: the write lock orders every hold of every process, so each decides
 * on the holds committed before it.
 */
final class SqliteHolds implements HoldStore {

  private static final String HOLD_COLUMNS = "hold_id, user_sid, amount_cents, node, idempotency_key, created_at, "
      + "expires_at_ms, initiated_by, state, ended_at, released_by";

  /** Ends the transaction of a request that placed nothing: rolled back, so its key is not kept. */
  private static final class NotPlaced extends RuntimeException {
    final HoldOutcome outcome;

    NotPlaced(HoldOutcome outcome) {
      super(null, null, false, false);
      this.outcome = outcome;
    }
  }

  private final SqliteDb db;
  private final SqliteCreditReads reads;

  SqliteHolds(SqliteDb db, SqliteCreditReads reads) {
    this.db = db;
    this.reads = reads;
  }

  @Override
  public Map<String, Authorization.Credit> credits(Collection<String> userSids) {
    return reads.credits(userSids);
  }

  @Override
  public HoldOutcome place(HoldRequest request, boolean enforce, String initiatedBy, Idempotent.Claim claim,
      Function<HoldOutcome.Placed, Idempotent.Response> respond) {
    HoldOutcome outcome;
    try {
      outcome = db.write("place a hold on the wallet of " + request.userSid(), () -> {
        Instant now = db.clock.instant();
        if (claim != null) {
          Optional<Idempotent> before = SqliteIdempotencyKeys.claim(db.conn(), claim, now);
          if (before.isPresent()) {
            return before.get() instanceof Idempotent.Replayed replayed
                ? replay(request, replayed, now)
                : new HoldOutcome.KeyReused(claim.key());
          }
        }
        HoldOutcome decided = decide(request, enforce, initiatedBy, now);
        if (!(decided instanceof HoldOutcome.Placed placed)) {
          throw new NotPlaced(decided);
        }
        if (claim != null) {
          SqliteIdempotencyKeys.answer(db.conn(), claim.key(), respond.apply(placed), null);
        }
        return placed;
      });
    } catch (NotPlaced e) {
      return e.outcome;
    }
    reads.invalidate(request.userSid());
    return outcome;
  }

  /** Inside the write: the hold placed before for the node and key, or a new one if the wallet can take it. */
  private HoldOutcome decide(HoldRequest request, boolean enforce, String initiatedBy, Instant now)
      throws SQLException {
    Optional<Hold> existing = byRecord(request.node(), request.idempotencyKey());
    if (existing.isPresent()) {
      Hold hold = existing.get();
      if (!hold.userSid().equals(request.userSid()) || hold.amountCents() != request.amountCents()) {
        return new HoldOutcome.Conflict(hold);
      }
      Optional<HoldOutcome> ended = ended(hold, now);
      if (ended.isPresent()) {
        return ended.get();
      }
      long available = SqliteCreditReads.load(db, hold.userSid(), now.toEpochMilli()).credit().availableCents();
      return new HoldOutcome.Placed(hold, available, true, available < 0);
    }
    if (recordConsumed(request.node(), request.idempotencyKey())) {
      return new HoldOutcome.RecordConsumed(request.node(), request.idempotencyKey());
    }
    Authorization.Credit credit = SqliteCreditReads.load(db, request.userSid(), now.toEpochMilli()).credit();
    Authorization.Decision decision = Authorization.decide(credit, request.amountCents(), enforce);
    if (!decision.allowed()) {
      return new HoldOutcome.Refused(decision);
    }
    long heldAfter;
    try {
      heldAfter = Math.addExact(credit.heldCents(), request.amountCents());
    } catch (ArithmeticException e) {
      throw BalanceOutOfRangeException.held(request.userSid(), credit.heldCents(), request.amountCents());
    }
    Hold hold = insert(request, initiatedBy, now);
    long available = new Authorization.Credit(credit.balanceCents(), heldAfter, credit.enabled(),
        credit.dailyCapCents(), credit.chargedTodayCents()).availableCents();
    return new HoldOutcome.Placed(hold, available, false, decision.lowBalance());
  }

  /**
   * Inside the write: the first answer under the request's Idempotency-Key, while the hold it
   * placed still counts. Once that hold ended it is answered as the same request without the key
   * is: its first answer says "active", and a gateway believing it would count credit that may be
   * held for other work by now.
   */
  private HoldOutcome replay(HoldRequest request, Idempotent.Replayed replayed, Instant now) throws SQLException {
    return byRecord(request.node(), request.idempotencyKey()).flatMap(hold -> ended(hold, now))
        .orElse(new HoldOutcome.Replayed(replayed.response()));
  }

  /**
   * What a request for a hold placed before is answered once that hold has ended, or empty while it
   * counts: only a hold that still counts is answered again, as one that ended reserves nothing.
   */
  private static Optional<HoldOutcome> ended(Hold hold, Instant now) {
    if (!hold.counts(now)) {
      return Optional.of(new HoldOutcome.Ended(hold, hold.stateAt(now)));
    }
    return Optional.empty();
  }

  private Hold insert(HoldRequest request, String initiatedBy, Instant now) throws SQLException {
    Instant expiresAt = now.plus(request.ttl());
    PreparedStatement ps = db.stmt("INSERT INTO hold (user_sid, amount_cents, node, idempotency_key, created_at, "
        + "expires_at_ms, initiated_by) VALUES (?, ?, ?, ?, ?, ?, ?)");
    ps.setString(1, request.userSid());
    ps.setLong(2, request.amountCents());
    ps.setString(3, request.node());
    ps.setString(4, request.idempotencyKey());
    ps.setString(5, now.toString());
    ps.setLong(6, expiresAt.toEpochMilli());
    ps.setString(7, initiatedBy);
    ps.executeUpdate();
    return byRecord(request.node(), request.idempotencyKey()).orElseThrow();
  }

  private boolean recordConsumed(String node, String key) throws SQLException {
    PreparedStatement ps = db.stmt("SELECT 1 FROM consumed_record c JOIN node n ON n.node_id = c.node_id "
        + "WHERE n.name = ? AND c.idempotency_key = ?");
    ps.setString(1, node);
    ps.setString(2, key);
    try (ResultSet rs = ps.executeQuery()) {
      return rs.next();
    }
  }

  @Override
  public Optional<Released> release(long holdId, String releasedBy) {
    Optional<Released> released = db.write("release hold " + holdId, () -> {
      Instant now = db.clock.instant();
      PreparedStatement ps = db.stmt("UPDATE hold SET state = 'released', ended_at = ?, released_by = ? "
          + "WHERE hold_id = ? AND state = 'active'");
      ps.setString(1, now.toString());
      ps.setString(2, releasedBy);
      ps.setLong(3, holdId);
      boolean releasedNow = ps.executeUpdate() == 1;
      Optional<Hold> hold = byId(holdId);
      if (hold.isEmpty()) {
        return Optional.<Released>empty();
      }
      long available = SqliteCreditReads.load(db, hold.get().userSid(), now.toEpochMilli()).credit().availableCents();
      return Optional.of(new Released(hold.get(), releasedNow, available));
    });
    released.ifPresent(r -> reads.invalidate(r.hold().userSid()));
    return released;
  }

  @Override
  public Optional<Hold> hold(long holdId) {
    return db.query("read hold " + holdId, () -> byId(holdId));
  }

  @Override
  public ActiveHolds active(String userSid, int limit) {
    if (limit < 1) {
      throw new IllegalArgumentException("the active holds shown must be 1 or more, got " + limit);
    }
    return db.query("read the active holds of " + userSid, () -> {
      // The window's count and sum are taken over every active hold, before the LIMIT: one
      // statement, one snapshot, so the total always covers the holds listed.
      PreparedStatement ps = db.stmt("SELECT " + HOLD_COLUMNS + ", count(*) OVER (), sum(amount_cents) OVER () "
          + "FROM hold WHERE user_sid = ? AND state = 'active' AND expires_at_ms > ? ORDER BY hold_id DESC LIMIT ?");
      ps.setString(1, userSid);
      ps.setLong(2, db.clock.millis());
      ps.setInt(3, limit);
      List<Hold> holds = new ArrayList<>();
      long count = 0;
      long held = 0;
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          holds.add(row(rs));
          count = rs.getLong(12);
          held = rs.getLong(13);
        }
      }
      return new ActiveHolds(holds, count, held);
    });
  }

  // ---- inside a node's transaction

  /** Whether the node has any active hold (expired or not): if not, its records settle nothing. */
  boolean hasActive(String node) throws SQLException {
    PreparedStatement ps = db.stmt("SELECT 1 FROM hold WHERE node = ? AND state = 'active' LIMIT 1");
    ps.setString(1, node);
    try (ResultSet rs = ps.executeQuery()) {
      return rs.next();
    }
  }

  /**
   * Settles the active holds (expired or not) of records the node's transaction consumed: they no
   * longer count, and the records are charged their own cost as any other.
   */
  void settle(String node, Map<String, String> consumedKeyUsers, String now) throws SQLException {
    // The record settles the hold of its own user only: a record of another user is charged to
    // that user, and the hold it did not spend stays until it expires or is released.
    PreparedStatement ps = db.stmt("UPDATE hold SET state = 'settled', ended_at = ? "
        + "WHERE node = ? AND idempotency_key = ? AND user_sid = ? AND state = 'active'");
    for (Map.Entry<String, String> e : consumedKeyUsers.entrySet()) {
      ps.setString(1, now);
      ps.setString(2, node);
      ps.setString(3, e.getKey());
      ps.setString(4, e.getValue());
      ps.executeUpdate();
    }
  }

  // ---- rows

  private Optional<Hold> byRecord(String node, String key) throws SQLException {
    PreparedStatement ps = db.stmt("SELECT " + HOLD_COLUMNS + " FROM hold WHERE node = ? AND idempotency_key = ?");
    ps.setString(1, node);
    ps.setString(2, key);
    return one(ps);
  }

  private Optional<Hold> byId(long holdId) throws SQLException {
    PreparedStatement ps = db.stmt("SELECT " + HOLD_COLUMNS + " FROM hold WHERE hold_id = ?");
    ps.setLong(1, holdId);
    return one(ps);
  }

  private static Optional<Hold> one(PreparedStatement ps) throws SQLException {
    try (ResultSet rs = ps.executeQuery()) {
      return rs.next() ? Optional.of(row(rs)) : Optional.empty();
    }
  }

  /** The hold of the current row, selected as {@link #HOLD_COLUMNS}. */
  private static Hold row(ResultSet rs) throws SQLException {
    return new Hold(rs.getLong(1), rs.getString(2), rs.getLong(3), rs.getString(4), rs.getString(5),
        Instant.parse(rs.getString(6)), Instant.ofEpochMilli(rs.getLong(7)), rs.getString(8),
        Hold.State.fromSql(rs.getString(9)), LedgerSql.instant(rs.getString(10)), rs.getString(11));
  }
}
