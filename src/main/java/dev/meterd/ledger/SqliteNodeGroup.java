package dev.meterd.ledger;

import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Several nodes' runs in one {@code BEGIN IMMEDIATE} transaction, each inside the savepoint
 * {@value #SAVEPOINT}: a node that fails rolls back to it and the others stay.
 *
 * <p>Implementation notes. What a node's run caches (the wallets it opened, the tracks it moved)
 * is kept here until the group commits, since until then a failure may still roll it all back.
 * SQLite rolls a whole transaction back by itself on some errors (a full disk, an I/O error);
 * then {@code ROLLBACK TO} finds no savepoint, and that is how a lost group is told from a failed
 * node. A lost group keeps its cause and refuses everything but {@link #close}. The records its
 * nodes consumed are written at COMMIT, sorted ({@link ConsumedRows}), or between two nodes once
 * there are {@link ConsumedRows#STAGED_AT_MOST} of them or a node comes again, so that its run
 * finds them.
 */
final class SqliteNodeGroup implements NodeStore.NodeGroup {

  static final String SAVEPOINT = "node_run";

  private final SqliteNodeStore store;
  private final SqliteDb db;
  private final boolean dryRun;
  /** Wallets opened by the group's nodes: cached only once the group commits. */
  private final Map<String, SqliteWalletCache.Entry> created = new HashMap<>();
  /** Nodes whose tracks the group moved (consumed or halted): reread once it commits. */
  private final Set<String> touched = new LinkedHashSet<>();
  /** The records the group's nodes consumed, not yet written, and those nodes. */
  private final ConsumedRows staged = new ConsumedRows();
  private final Set<String> stagedNodes = new HashSet<>();
  private SqliteNodeWrite current;
  private LedgerException lost;
  private boolean open = true;
  private int nodes;
  private long records;
  /** The consumed-record index's segments, read at the group's first look-up; fixed until it ends. */
  private List<ConsumedSegments.Segment> segments;

  /** Call holding {@code store.db()}, inside the transaction just begun. */
  SqliteNodeGroup(SqliteNodeStore store, boolean dryRun) {
    this.store = store;
    this.db = store.db();
    this.dryRun = dryRun;
    db.grouping(this);
  }

  @Override
  public NodeStore.NodeWrite beginNode(String node) {
    return beginNode(node, false);
  }

  /** As {@link #beginNode(String)}; {@code alone}: the node's commit commits the group. */
  SqliteNodeWrite beginNode(String node, boolean alone) {
    synchronized (db) {
      requireStanding("start the run of node " + node);
      if (current != null) {
        throw new IllegalStateException("node " + node + " began before the run of " + current.node() + " ended");
      }
      if (stagedNodes.contains(node) || staged.size() >= ConsumedRows.STAGED_AT_MOST) {
        writeStagedOrLose();
      }
      try {
        exec("SAVEPOINT " + SAVEPOINT);
        current = new SqliteNodeWrite(store, this, node, alone);
        return current;
      } catch (SQLException e) {
        throw nodeFailed(db.failure("start the run of node " + node, e));
      }
    }
  }

  @Override
  public NodeState halt(String node, NodeError error, String haltedTreeId) {
    synchronized (db) {
      requireStanding("halt node " + node);
      try {
        exec("SAVEPOINT " + SAVEPOINT);
        NodeState state = store.haltRows(node, error, haltedTreeId);
        exec("RELEASE " + SAVEPOINT);
        touched.add(node);
        nodes++;
        return state;
      } catch (LeaseLostException e) {
        // Another daemon holds the node: nothing of this halt may stay in the group.
        rollBackToSavepoint(null);
        throw lost != null ? new NodeStore.GroupLostException(lost) : e;
      } catch (SQLException e) {
        LedgerException failure = db.failure("halt node " + node, e);
        rollBackToSavepoint(failure);
        throw lost != null ? new NodeStore.GroupLostException(lost) : failure;
      }
    }
  }

  /** A node's run released its savepoint: its rows stay in the group. Call holding the db. */
  void released(SqliteNodeWrite write, Map<String, SqliteWalletCache.Entry> opened, long consumed,
      ConsumedRows rows) throws SQLException {
    exec("RELEASE " + SAVEPOINT);
    staged.addAll(rows);
    stagedNodes.add(write.node());
    created.putAll(opened);
    touched.add(write.node());
    nodes++;
    records += consumed;
    current = null;
  }

  /** A node's run ended without its commit: back to its savepoint. Call holding the db. */
  void abandoned(SqliteNodeWrite write) {
    current = null;
    if (lost == null) {
      rollBackToSavepoint(null);
    }
  }

  /**
   * Rolls back to the savepoint of the node (or halt) in progress, and releases it. If that fails
   * the transaction is gone (SQLite rolled it back on a full disk or an I/O error), and with it
   * the group: it is marked lost.
   */
  private void rollBackToSavepoint(LedgerException cause) {
    db.forgetRemembered();
    try {
      exec("ROLLBACK TO " + SAVEPOINT);
      exec("RELEASE " + SAVEPOINT);
    } catch (SQLException e) {
      LedgerException reason = cause != null ? cause : db.failure("roll back the node's run", e);
      if (cause != null) {
        cause.addSuppressed(e);
      }
      loseGroup(reason);
    }
  }

  /** A node's statement failed: if SQLite has rolled the whole transaction back, the group is lost. */
  private LedgerException nodeFailed(LedgerException failure) {
    rollBackToSavepoint(failure);
    return lost != null ? new NodeStore.GroupLostException(lost) : failure;
  }

  private void loseGroup(LedgerException reason) {
    lost = reason;
    db.rolledBack(reason);
  }

  private void requireStanding(String what) {
    if (!open) {
      throw new IllegalStateException("cannot " + what + ": the group is closed");
    }
    if (lost != null) {
      throw new NodeStore.GroupLostException(lost);
    }
  }

  boolean dryRun() {
    return dryRun;
  }

  @Override
  public Optional<LedgerException> lost() {
    synchronized (db) {
      return Optional.ofNullable(lost);
    }
  }

  @Override
  public int nodes() {
    return nodes;
  }

  @Override
  public long records() {
    return records;
  }

  @Override
  public void commit() {
    synchronized (db) {
      requireStanding("commit the group");
      if (current != null) {
        throw new IllegalStateException("the group cannot commit while node " + current.node() + " runs");
      }
      boolean committed = false;
      try {
        if (dryRun) {
          db.rolledBack(null);
        } else {
          staged.write(db, store.segments);
          db.commit();
          committed = true;
        }
      } catch (SQLException e) {
        db.rolledBack(e);
        lost = db.failure(what(), e);
        throw lost;
      } catch (RuntimeException | Error e) {
        // Not a database error (an OutOfMemoryError sorting the records, say), yet the transaction
        // must not stay open holding the write lock: the group is lost as by a database error.
        db.rolledBack(e);
        lost = new LedgerException("cannot " + what() + " in the database " + db.where + ": " + e, e);
        throw lost;
      } finally {
        open = false;
        db.nodeWrite(false);
      }
      if (committed) {
        committed();
        store.segments.maintain();
      }
    }
  }

  /** The consumed-record index's segments, as of the group's first look-up. Call holding the db. */
  List<ConsumedSegments.Segment> segments() throws SQLException {
    if (segments == null) {
      segments = store.segments.current();
    }
    return segments;
  }

  /** The group's commit, for messages: its node, or how many and the first and last. */
  private String what() {
    List<String> names = new ArrayList<>(touched);
    return names.size() == 1 ? "commit the run of node " + names.get(0) : "commit " + members(names);
  }

  /** The group's nodes, for messages: how many, and the first and last. */
  private static String members(List<String> names) {
    return names.isEmpty() ? "an empty group"
        : "a group of " + names.size() + " nodes (" + names.get(0) + " to " + names.get(names.size() - 1) + ")";
  }

  /**
   * What follows a successful COMMIT: only caches, and nothing that may throw, so that a
   * committed group is never reported as failed.
   */
  private void committed() {
    try {
      created.forEach(store.walletCache::put);
      for (String node : touched) {
        store.refreshTrack(node);
      }
    } catch (SQLException | RuntimeException | OutOfMemoryError e) {
      // The caches are only a speed-up: dropped, they are read again from the tables next
      // time (a wallet id cached or not is the committed one either way).
      store.dropTracks();
    }
    db.committed();
  }

  @Override
  public void close() {
    synchronized (db) {
      if (open) {
        if (current != null) {
          current.close();
        }
        if (lost == null) {
          db.rolledBack(null);
        }
        open = false;
        db.nodeWrite(false);
      }
    }
  }

  /** See {@link SqliteDb#writeStagedRecords}: only between node runs, outside any savepoint. */
  void writeStagedBetweenNodes() {
    if (current != null) {
      throw new IllegalStateException("consumed records cannot be read on this connection inside the run of node "
          + current.node());
    }
    if (lost == null) {
      writeStagedOrLose();
    }
  }

  /**
   * Writes the records held, between node runs: outside any savepoint, so a failure (possibly after
   * some of them were written) loses the whole group rather than leave it half written.
   */
  private void writeStagedOrLose() {
    try {
      staged.write(db, store.segments);
      stagedNodes.clear();
    } catch (SQLException e) {
      loseGroup(db.failure("write the records consumed by " + members(new ArrayList<>(stagedNodes)), e));
      throw new NodeStore.GroupLostException(lost);
    }
  }

  private void exec(String sql) throws SQLException {
    db.stmt(sql).execute();
  }
}
