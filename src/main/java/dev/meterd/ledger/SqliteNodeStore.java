package dev.meterd.ledger;

import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The engine's side of the SQLite store: the run mark, the node tracks (cached), halts and
 * resumes, and {@link SqliteNodeWrite}, one node's run.
 */
final class SqliteNodeStore implements NodeStore {

  private final SqliteDb db;
  private final SqliteWalletRows rows;
  final SqliteWalletCache walletCache;
  final SqliteSpend spend;
  final SqliteOutbox outbox;
  final SqliteHolds holds;
  /** Ends a claimed node's lease in the transaction that writes it: see {@link LeaseFence}. */
  final LeaseFence leases;
  /** The consumed-record index's sealed levels: looked up by each node's run, kept in shape after each group. */
  final ConsumedSegments segments;
  /**
   * Every node's track, as of {@link #trackCacheVersion}: reloaded when another connection has
   * committed (PRAGMA data_version moved), patched row by row after this connection's own writes,
   * dropped when one of them rolls back.
   */
  private Map<String, NodeTrack> trackCache;
  private long trackCacheVersion;

  SqliteNodeStore(SqliteDb db, SqliteWalletRows rows, SqliteWalletCache walletCache, SqliteSpend spend,
      SqliteOutbox outbox, SqliteHolds holds, LeaseFence leases) {
    this.db = db;
    this.leases = leases;
    this.rows = rows;
    this.walletCache = walletCache;
    this.spend = spend;
    this.outbox = outbox;
    this.holds = holds;
    this.segments = new ConsumedSegments(db);
    db.onRollback(this::dropTracks);
  }

  SqliteDb db() {
    return db;
  }

  SqliteWalletRows rows() {
    return rows;
  }

  SqliteOutbox outbox() {
    return outbox;
  }

  // ---- run mark

  @Override
  public RunMark runMark() {
    return db.query("read the run mark", () -> {
      try (Statement st = db.conn().createStatement();
          ResultSet rs = st.executeQuery(
              "SELECT full_tip, nodes_total, generation, last_tip FROM run_mark WHERE id = 1")) {
        rs.next();
        return new RunMark(rs.getString(1), rs.getInt(2), rs.getLong(3), rs.getString(4));
      }
    });
  }

  @Override
  public boolean setRunMark(RunMark mark) {
    return db.write("record the run mark", () -> {
      PreparedStatement last = db.stmt("UPDATE run_mark SET last_tip = ? WHERE id = 1");
      last.setString(1, mark.lastTip());
      last.executeUpdate();
      PreparedStatement ps = db.stmt(
          "UPDATE run_mark SET full_tip = ?, nodes_total = ? WHERE id = 1 AND generation = ?");
      ps.setString(1, mark.fullTip());
      ps.setInt(2, mark.nodesTotal());
      ps.setLong(3, mark.generation());
      return ps.executeUpdate() == 1;
    });
  }

  /** Makes the next run look at every node, whatever the branch tip (inside a write). */
  private void clearRunMark() throws SQLException {
    db.stmt("UPDATE run_mark SET full_tip = NULL, generation = generation + 1 WHERE id = 1").executeUpdate();
  }

  // ---- tracks

  @Override
  public Map<String, NodeTrack> tracks() {
    return db.query("read the node cursors", () -> {
      long version = db.dataVersion();
      if (trackCache == null || version != trackCacheVersion) {
        trackCache = loadTracks();
        trackCacheVersion = version;
      }
      return new HashMap<>(trackCache);
    });
  }

  static final String TRACK_SELECT =
      "SELECT name, last_commit_sha, tree_id, error_kind, halted_tree_id FROM node";

  /** Keeps the cache of tracks true after this connection changed a node. */
  void refreshTrack(String node) throws SQLException {
    if (trackCache == null) {
      return;
    }
    PreparedStatement ps = db.stmt(TRACK_SELECT + " WHERE name = ?");
    ps.setString(1, node);
    try (ResultSet rs = ps.executeQuery()) {
      if (rs.next()) {
        trackCache.put(rs.getString(1), track(rs));
      }
    }
  }

  /** Forgets the cached tracks: the next read loads them from the table. */
  void dropTracks() {
    trackCache = null;
  }

  private Map<String, NodeTrack> loadTracks() throws SQLException {
    Map<String, NodeTrack> result = new HashMap<>();
    try (ResultSet rs = db.stmt(TRACK_SELECT).executeQuery()) {
      while (rs.next()) {
        result.put(rs.getString(1), track(rs));
      }
    }
    return result;
  }

  static NodeTrack track(ResultSet rs) throws SQLException {
    String kind = rs.getString(4);
    return new NodeTrack(rs.getString(2), rs.getString(3), kind == null ? null : LedgerSql.errorKind(kind),
        rs.getString(5));
  }

  // ---- nodes

  @Override
  public List<NodeState> haltedNodes() {
    return db.query("read the halted nodes", () -> {
      List<NodeState> result = new ArrayList<>();
      try (Statement st = db.conn().createStatement();
          ResultSet rs = st.executeQuery(
              "SELECT " + LedgerSql.NODE_COLUMNS + " FROM node WHERE status = 'halted' ORDER BY "
              + db.engine.inByteOrder("name"))) {
        while (rs.next()) {
          result.add(LedgerSql.nodeState(rs));
        }
      }
      return result;
    });
  }

  Optional<NodeState> nodeByName(String name) throws SQLException {
    PreparedStatement ps = db.stmt("SELECT " + LedgerSql.NODE_COLUMNS + " FROM node WHERE name = ?");
    ps.setString(1, name);
    try (ResultSet rs = ps.executeQuery()) {
      return rs.next() ? Optional.of(LedgerSql.nodeState(rs)) : Optional.empty();
    }
  }

  long ensureNode(String name) throws SQLException {
    PreparedStatement ins = db.stmt("INSERT INTO node (name) VALUES (?) ON CONFLICT (name) DO NOTHING");
    ins.setString(1, name);
    ins.executeUpdate();
    PreparedStatement ps = db.stmt("SELECT node_id FROM node WHERE name = ?");
    ps.setString(1, name);
    try (ResultSet rs = ps.executeQuery()) {
      rs.next();
      return rs.getLong(1);
    }
  }

  @Override
  public NodeState halt(String node, NodeError error, String haltedTreeId) {
    return db.write("halt node " + node, () -> {
      NodeState after = haltRows(node, error, haltedTreeId);
      refreshTrack(node);
      return after;
    });
  }

  /** Halts a node inside the caller's transaction; its track is the caller's to refresh once committed. */
  NodeState haltRows(String node, NodeError error, String haltedTreeId) throws SQLException {
    leases.endClaim(db, node, "halt");
    ensureNode(node);
    Optional<NodeState> before = nodeByName(node);
    String now = db.clock.instant().toString();
    PreparedStatement ps = db.stmt("UPDATE node SET status = 'halted', error_kind = ?, "
        + "error_file = ?, error_line = ?, error_message = ?, halted_since = coalesce(halted_since, ?), "
        + "halted_tree_id = ?, last_run_at = ? WHERE name = ?");
    ps.setString(1, LedgerSql.sqlName(error.kind()));
    ps.setString(2, error.file());
    SqliteDb.setNullableInt(ps, 3, error.line());
    ps.setString(4, error.message());
    ps.setString(5, now);
    ps.setString(6, haltedTreeId);
    ps.setString(7, now);
    ps.setString(8, node);
    ps.executeUpdate();
    if (error.kind() == NodeError.Kind.TRANSIENT) {
      // A transient halt is retried by the next run, even at the same tip (a run of named nodes
      // does not record a mark, so one recorded before would otherwise skip this node).
      clearRunMark();
    }
    NodeState after = nodeByName(node).orElseThrow();
    NodeEvents.halted(outbox, before, after);
    return after;
  }

  @Override
  public Optional<NodeState> resume(String node) {
    return db.write("resume node " + node, () -> {
      Optional<NodeState> before = nodeByName(node);
      PreparedStatement ps = db.stmt("UPDATE node SET status = 'ok', error_kind = NULL, "
          + "error_file = NULL, error_line = NULL, error_message = NULL, halted_since = NULL, "
          + "halted_tree_id = NULL WHERE name = ?");
      ps.setString(1, node);
      if (ps.executeUpdate() == 0) {
        return Optional.empty();
      }
      // The next poll must look at the nodes even if the branch tip has not moved.
      clearRunMark();
      NodeEvents.resumed(outbox, before, NodeEvents.ResumeReason.RESUME);
      refreshTrack(node);
      return nodeByName(node);
    });
  }

  // ---- nodes' runs

  @Override
  public NodeWrite beginNode(String node, boolean dryRun) {
    synchronized (db) {
      SqliteNodeGroup group = beginGroup(dryRun);
      try {
        return group.beginNode(node, true);
      } catch (RuntimeException | Error e) {
        group.close();
        throw e;
      }
    }
  }

  @Override
  public SqliteNodeGroup beginGroup(boolean dryRun) {
    synchronized (db) {
      // A second group on this connection would roll the open one back as its BEGIN failed.
      db.requireNoGroup("start a group of node runs");
      try {
        db.beginWrite();
        // Inside the transaction: a policy another process changes from now on waits for its commit.
        walletCache.sync(db.dataVersion());
        db.nodeWrite(true);
        return new SqliteNodeGroup(this, dryRun);
      } catch (SQLException e) {
        db.rolledBack(e);
        throw db.failure("start a group of node runs", e);
      } catch (RuntimeException | Error e) {
        db.rolledBack(e);
        throw e;
      }
    }
  }
}
