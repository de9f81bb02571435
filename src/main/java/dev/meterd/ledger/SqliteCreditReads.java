package dev.meterd.ledger;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.meterd.policy.Authorization;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;
import java.util.Collection;
import java.util.HashMap;
import java.util.Map;

/**
 * The wallets' credit as authorize reads it: a bounded cache in front of one statement, on a
 * connection of its own that only reads.
 *
 * <p>Implementation notes. Never stale: each call first reads {@code PRAGMA data_version} on this
 * connection, which moves whenever any other connection commits (a CLI {@code wallet grant}, the
 * daemon's aggregator, this ledger's own writes, all on other connections), and forgets every
 * entry when it moved. An entry is loaded by one SELECT (one snapshot: a settlement that moves
 * the balance and ends the hold in one transaction is never seen half done) and then holds until
 * its earliest hold expires or the UTC day ends, whichever comes first, since time alone changes
 * the answer then. A load that races a commit is tagged with the version read before it, so the
 * next call forgets it again: entries may be dropped too often, never kept too long.
 *
 * <p>Its own connection, because the store's writes hold theirs while they wait for SQLite's
 * write lock (up to the busy timeout, while a node's run commits): a read on a WAL database never
 * waits for a writer, so authorize is not held up by any write, here or in another process.
 */
final class SqliteCreditReads {

  /** Wallets remembered at most; the least used are dropped first. */
  static final long MAX_WALLETS = 100_000;

  private static final long MS_PER_DAY = 86_400_000L;

  /**
   * One wallet's credit as of {@code nowMs}, in one statement: the wallet's balance and policy,
   * its charges of today, and its active holds not yet expired with the earliest expiry.
   */
  private static final String CREDIT_SELECT = "SELECT w.balance_cents, w.enabled, w.daily_cap_cents, "
      + "(SELECT d.charged_cents FROM daily_spend d WHERE d.wallet_id = w.wallet_id AND d.day = ?), "
      + "h.held, h.next_expiry_ms "
      + "FROM (SELECT coalesce(sum(amount_cents), 0) AS held, min(expires_at_ms) AS next_expiry_ms FROM hold "
      + "WHERE user_sid = ? AND state = 'active' AND expires_at_ms > ?) AS h "
      + "LEFT JOIN wallet w ON w.user_sid = ?";

  /** A wallet's credit and until when it holds if nothing is committed. */
  record Loaded(Authorization.Credit credit, long validUntilMs) {}

  private final SqliteDb.Connections connections;
  private final Engine engine;
  private final Clock clock;
  private final String where;
  private final Cache<String, Loaded> cache = Caffeine.newBuilder().maximumSize(MAX_WALLETS).build();
  private SqliteDb db;
  private long syncedVersion = Long.MIN_VALUE;
  private boolean closed;

  SqliteCreditReads(SqliteDb.Connections connections, Engine engine, Clock clock, String where) {
    this.connections = connections;
    this.engine = engine;
    this.clock = clock;
    this.where = where;
  }

  /** The credit of each user, each as of a moment after this call began. */
  synchronized Map<String, Authorization.Credit> credits(Collection<String> userSids) {
    SqliteDb reader = reader();
    return reader.query("read the credit of " + userSids.size() + " wallets", () -> {
      long nowMs = clock.millis();
      long version = reader.dataVersion();
      if (version != syncedVersion) {
        cache.invalidateAll();
        syncedVersion = version;
      }
      Map<String, Authorization.Credit> result = new HashMap<>();
      for (String userSid : userSids) {
        Loaded loaded = cache.getIfPresent(userSid);
        if (loaded == null || nowMs >= loaded.validUntilMs()) {
          loaded = load(reader, userSid, nowMs);
          cache.put(userSid, loaded);
        }
        result.put(userSid, loaded.credit());
      }
      return result;
    });
  }

  /** Forgets a wallet after this process changed it (data_version would tell too; this is at once). */
  void invalidate(String userSid) {
    cache.invalidate(userSid);
  }

  /** The credit of a wallet as the database holds it now (inside the caller's transaction, if any). */
  static Loaded load(SqliteDb db, String userSid, long nowMs) throws SQLException {
    long today = SqliteSpend.epochDay(nowMs);
    PreparedStatement ps = db.stmt(CREDIT_SELECT);
    ps.setString(1, SqliteSpend.dayText(today));
    ps.setString(2, userSid);
    ps.setLong(3, nowMs);
    ps.setString(4, userSid);
    try (ResultSet rs = ps.executeQuery()) {
      rs.next();
      long held = rs.getLong(5);
      long nextExpiryMs = rs.getObject(6) == null ? Long.MAX_VALUE : rs.getLong(6);
      long validUntilMs = Math.min(nextExpiryMs, Math.multiplyExact(today + 1, MS_PER_DAY));
      if (rs.getObject(1) == null) {
        return new Loaded(new Authorization.Credit(0, held, true, 0, 0), validUntilMs);
      }
      return new Loaded(new Authorization.Credit(rs.getLong(1), held, rs.getInt(2) == 1, rs.getLong(3), rs.getLong(4)),
          validUntilMs);
    }
  }

  /** The reader's connection, opened on first use: most commands never authorize. */
  private SqliteDb reader() {
    if (closed) {
      throw new LedgerException("cannot read credit from the database " + where + ": the ledger is closed");
    }
    if (db == null) {
      try {
        Connection conn = connections.connect();
        db = new SqliteDb(conn, connections, engine, clock, where);
        // A new connection after a lost one: nothing read before the loss is trusted again unread.
        db.onRollback(() -> {
          cache.invalidateAll();
          syncedVersion = Long.MIN_VALUE;
        });
      } catch (SQLException e) {
        throw new LedgerException("cannot open a reading connection to the database " + where + ": "
            + e.getMessage() + engine.hint(e), e);
      }
    }
    return db;
  }

  synchronized void close() {
    closed = true;
    if (db != null) {
      db.close();
    }
  }
}
