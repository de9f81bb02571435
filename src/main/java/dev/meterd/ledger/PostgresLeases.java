package dev.meterd.ledger;

import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Node leases in PostgreSQL ({@code node_lease}, {@code lease_log}). Claims, renewals and
 * give-backs run on a connection of their own, each in a short transaction that locks lease rows
 * with {@code SKIP LOCKED}: a claim never waits for another daemon, and never for this daemon's own
 * writer, which keeps the rows of the nodes it has written locked until its group commits.
 *
 * <p>The fence ({@link #endClaim}) runs in the writer's transaction: it gives the lease back only
 * where the row still names this daemon and the epoch it claimed, and locks the row, so no other
 * daemon can claim the node before that transaction ends; if the row names another epoch, the
 * node's run is refused. Together: no node's writes commit under a lease that was taken over.
 */
final class PostgresLeases implements NodeLeases, LeaseFence {

  /** The database's clock, in milliseconds since 1970: {@code now()} would be the transaction's start. */
  static final String NOW_MS = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

  /** As long as the ledger's writer waits for a lost connection to answer its test. */
  private static final int VALIDATION_TIMEOUT_SECONDS = 5;

  private final SqliteDb.Connections connections;
  private final String where;
  private final String holder;
  private final long ttlMs;
  /** The epoch of every node this daemon claimed, until a later claim replaces it. */
  private final Map<String, Long> epochs = new ConcurrentHashMap<>();
  private final AtomicLong takeovers = new AtomicLong();
  private Connection conn;

  PostgresLeases(SqliteDb.Connections connections, String where, String holder, Duration ttl) {
    if (ttl.toMillis() < 1) {
      throw new IllegalArgumentException("a lease must last at least a millisecond, not " + ttl);
    }
    this.connections = connections;
    this.where = where;
    this.holder = holder;
    this.ttlMs = ttl.toMillis();
  }

  /** This process's name in the leases: the host, the process id and a random tail (a restart is a new holder). */
  static final String PROCESS_HOLDER = processHolder();

  private static String processHolder() {
    String host;
    try {
      host = java.net.InetAddress.getLocalHost().getHostName();
    } catch (java.net.UnknownHostException e) {
      host = "unknown-host";
    }
    return host + "/" + ProcessHandle.current().pid() + "/"
        + Integer.toString(ThreadLocalRandom.current().nextInt(36 * 36 * 36 * 36), 36);
  }

  @Override
  public boolean shared() {
    return true;
  }

  @Override
  public String holder() {
    return holder;
  }

  @Override
  public Duration term() {
    return Duration.ofMillis(ttlMs);
  }

  @Override
  public synchronized Claimed claim(List<String> nodes) {
    List<String> sorted = nodes.stream().sorted().distinct().toList();
    int[] taken = {0};
    Claimed claimed = inTransaction("claim the leases of " + sorted.size() + " nodes", c -> {
      Array names = c.createArrayOf("text", sorted.toArray());
      // Only rows not there yet: an INSERT that meets a row another transaction is updating waits
      // for it, even with DO NOTHING, and this daemon's writer keeps the rows it wrote locked until
      // its group commits. In name order, so that two daemons adding the same new rows wait in one order.
      try (PreparedStatement ps = c.prepareStatement("INSERT INTO node_lease (node, holder, epoch, expires_at_ms) "
          + "SELECT n, NULL, 0, 0 FROM unnest(?::text[]) AS n "
          + "WHERE NOT EXISTS (SELECT 1 FROM node_lease l WHERE l.node = n) ORDER BY n ON CONFLICT (node) DO NOTHING")) {
        ps.setArray(1, names);
        ps.executeUpdate();
      }
      Map<String, Long> epochsClaimed = new LinkedHashMap<>();
      List<String> events = new ArrayList<>();
      try (PreparedStatement ps = c.prepareStatement("WITH free AS (SELECT node, holder FROM node_lease "
          + "WHERE node = ANY(?) AND (holder IS NULL OR expires_at_ms <= " + NOW_MS + ") "
          + "ORDER BY node FOR UPDATE SKIP LOCKED) "
          + "UPDATE node_lease l SET holder = ?, epoch = l.epoch + 1, expires_at_ms = " + NOW_MS + " + ? "
          + "FROM free WHERE l.node = free.node RETURNING l.node, l.epoch, free.holder")) {
        ps.setArray(1, names);
        ps.setString(2, holder);
        ps.setLong(3, ttlMs);
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            epochsClaimed.put(rs.getString(1), rs.getLong(2));
            // A lease given back has no holder; one that lapsed still names the daemon that lost it.
            events.add(rs.getString(3) == null ? "claim" : "takeover");
          }
        }
      }
      taken[0] = (int) events.stream().filter("takeover"::equals).count();
      log(c, List.copyOf(epochsClaimed.keySet()), List.copyOf(epochsClaimed.values()), events);
      return new Claimed(epochsClaimed, tracks(c, epochsClaimed.keySet()));
    });
    epochs.putAll(claimed.epochs());
    takeovers.addAndGet(taken[0]);
    return claimed;
  }

  @Override
  public synchronized int renew(List<String> nodes) {
    if (nodes.isEmpty()) {
      return 0;
    }
    return inTransaction("renew the leases of " + holder, c -> {
      // SKIP LOCKED: a row this daemon's writer is ending its claim on is given back at its commit anyway.
      try (PreparedStatement ps = c.prepareStatement("UPDATE node_lease SET expires_at_ms = " + NOW_MS + " + ? "
          + "WHERE node IN (SELECT node FROM node_lease WHERE node = ANY(?) AND holder = ? FOR UPDATE SKIP LOCKED)")) {
        ps.setLong(1, ttlMs);
        ps.setArray(2, c.createArrayOf("text", nodes.toArray()));
        ps.setString(3, holder);
        return ps.executeUpdate();
      }
    });
  }

  @Override
  public synchronized int release(List<String> nodes) {
    if (nodes.isEmpty()) {
      return 0;
    }
    List<String> sorted = nodes.stream().sorted().distinct().toList();
    return inTransaction("give back the leases of " + sorted.size() + " nodes", c -> {
      Array names = c.createArrayOf("text", sorted.toArray());
      return giveBack(c, "node = ANY(?) AND holder = ?", ps -> {
        ps.setArray(1, names);
        ps.setString(2, holder);
      });
    });
  }

  @Override
  public synchronized int releaseAll() {
    return inTransaction("give back the leases of " + holder, c -> giveBack(c, "holder = ?",
        ps -> ps.setString(1, holder)));
  }

  private interface Binder {
    void bind(PreparedStatement ps) throws SQLException;
  }

  /** Gives back the leases {@code condition} selects, logging each; returns how many. */
  private int giveBack(Connection c, String condition, Binder binder) throws SQLException {
    List<String> nodes = new ArrayList<>();
    List<Long> given = new ArrayList<>();
    try (PreparedStatement ps = c.prepareStatement("WITH r AS (SELECT node FROM node_lease WHERE " + condition
        + " ORDER BY node FOR UPDATE) UPDATE node_lease l SET holder = NULL, expires_at_ms = 0 FROM r "
        + "WHERE l.node = r.node RETURNING l.node, l.epoch")) {
      binder.bind(ps);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          nodes.add(rs.getString(1));
          given.add(rs.getLong(2));
        }
      }
    }
    log(c, nodes, given, java.util.Collections.nCopies(nodes.size(), "release"));
    return nodes.size();
  }

  @Override
  public synchronized List<Lease> leases() {
    return inTransaction("read the node leases", c -> {
      List<Lease> result = new ArrayList<>();
      try (PreparedStatement ps = c.prepareStatement("SELECT node, holder, epoch, expires_at_ms, "
          + "holder IS NOT NULL AND expires_at_ms > " + NOW_MS + " FROM node_lease ORDER BY "
          + Engine.POSTGRES.inByteOrder("node"));
          ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          result.add(new Lease(rs.getString(1), rs.getString(2), rs.getLong(3),
              Instant.ofEpochMilli(rs.getLong(4)), rs.getBoolean(5)));
        }
      }
      return result;
    });
  }

  @Override
  public long takeovers() {
    return takeovers.get();
  }

  @Override
  public void endClaim(SqliteDb db, String node, String event) throws SQLException {
    Long epoch = epochs.get(node);
    if (epoch == null) {
      return;
    }
    PreparedStatement ps = db.stmt("UPDATE node_lease SET holder = NULL, expires_at_ms = 0 "
        + "WHERE node = ? AND holder = ? AND epoch = ?");
    ps.setString(1, node);
    ps.setString(2, holder);
    ps.setLong(3, epoch);
    if (ps.executeUpdate() == 0) {
      throw new LeaseLostException(node, "node " + node + " is no longer this daemon's (" + holder
          + "): " + whyLost(db, node, epoch) + ", so this daemon's " + (event.equals("halt") ? "halt" : "run")
          + " of it is rolled back and nothing of it written");
    }
    PreparedStatement log = db.stmt("INSERT INTO lease_log (node, epoch, holder, event, at_ms) VALUES (?, ?, ?, ?, "
        + NOW_MS + ")");
    log.setString(1, node);
    log.setLong(2, epoch);
    log.setString(3, holder);
    log.setString(4, event);
    log.executeUpdate();
  }

  /** Why the claim of {@code epoch} no longer holds, as the lease row says. */
  private String whyLost(SqliteDb db, String node, long epoch) throws SQLException {
    PreparedStatement ps = db.stmt("SELECT holder, epoch FROM node_lease WHERE node = ?");
    ps.setString(1, node);
    try (ResultSet rs = ps.executeQuery()) {
      if (rs.next() && rs.getLong(2) == epoch && rs.getString(1) == null) {
        // This daemon's own transaction ended it: one whose COMMIT reached the database though
        // its answer did not, after which the group was reported lost.
        return "its claim of epoch " + epoch + " was already ended by a transaction of this daemon that committed";
      }
      return "its lease of epoch " + epoch + " lapsed and another daemon claimed it";
    }
  }

  private void log(Connection c, List<String> nodes, List<Long> epochsLogged, List<String> events)
      throws SQLException {
    if (nodes.isEmpty()) {
      return;
    }
    try (PreparedStatement ps = c.prepareStatement("INSERT INTO lease_log (node, epoch, holder, event, at_ms) "
        + "SELECT n, e, ?, ev, " + NOW_MS + " FROM unnest(?::text[], ?::bigint[], ?::text[]) "
        + "WITH ORDINALITY AS t(n, e, ev, i) ORDER BY i")) {
      ps.setString(1, holder);
      ps.setArray(2, c.createArrayOf("text", nodes.toArray()));
      ps.setArray(3, c.createArrayOf("bigint", epochsLogged.toArray()));
      ps.setArray(4, c.createArrayOf("text", events.toArray()));
      ps.executeUpdate();
    }
  }

  /** The claimed nodes' tracks, read after the claim: no other daemon moves them until it ends. */
  private static Map<String, NodeStore.NodeTrack> tracks(Connection c, java.util.Set<String> nodes)
      throws SQLException {
    Map<String, NodeStore.NodeTrack> result = new HashMap<>();
    if (nodes.isEmpty()) {
      return result;
    }
    try (PreparedStatement ps = c.prepareStatement(SqliteNodeStore.TRACK_SELECT + " WHERE name = ANY(?)")) {
      ps.setArray(1, c.createArrayOf("text", nodes.toArray()));
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          result.put(rs.getString(1), SqliteNodeStore.track(rs));
        }
      }
    }
    return result;
  }

  private interface Work<T> {
    T run(Connection c) throws SQLException;
  }

  /**
   * Runs {@code work} in one transaction of the leases' own connection, and commits. On a failure
   * the connection is dropped (it may be the one PostgreSQL lost) and the next call opens another.
   * The connection kept is tested first: between runs PostgreSQL may have restarted, and a claim
   * that failed on the connection it ended would fail a run the database could serve.
   */
  private <T> T inTransaction(String what, Work<T> work) {
    try {
      if (conn != null && !conn.isValid(VALIDATION_TIMEOUT_SECONDS)) {
        connections.discard(conn);
        conn = null;
      }
      if (conn == null) {
        conn = connections.connect();
        conn.setAutoCommit(false);
      }
      T result = work.run(conn);
      conn.commit();
      return result;
    } catch (SQLException e) {
      if (conn != null) {
        connections.discard(conn);
        conn = null;
      }
      throw new LedgerException("cannot " + what + " in the database " + where + ": " + Engine.oneLine(e)
          + Engine.POSTGRES.hint(e), e);
    }
  }

  synchronized void close() {
    if (conn != null) {
      try {
        conn.rollback();
        connections.release(conn);
      } catch (SQLException e) {
        connections.discard(conn);
      }
      conn = null;
    }
  }
}
