package dev.meterd.ledger;

import dev.meterd.batch.BatchContentException;
import dev.meterd.batch.UsageRecord;
import dev.meterd.ledger.ConsumedSegments.Prior;
import dev.meterd.policy.DailyCap;
import dev.meterd.policy.WalletSettings;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * One node's run inside the savepoint its {@link SqliteNodeGroup} opened: its records, one charge
 * per wallet, the balances, the wallets' daily counters, the budget alerts they reach, the holds
 * their records settle and the cursor are released into the group together, or rolled back.
 *
 * <p>Implementation notes. A record is looked up by its key (in this run's own records, then in
 * every level of the consumed-record index: {@code consumed_newest}, and each segment whose filter
 * may hold it, see {@link ConsumedSegments}; skipped for a node that has none yet) to tell a new
 * record from a duplicate or a conflict; new ones are kept in {@link ConsumedRows}, which the group
 * writes into the newest level in index order at COMMIT, where its primary key refuses again a
 * record consumed twice in that level. A run of
 * more than {@link ConsumedRows#STAGED_AT_MOST} records writes them as it goes. Charge ids are allocated up front (the write lock is held), so each
 * record points at its charge before the charge row, whose amount is known only at the end, is
 * written. A wallet's daily cap is applied record by record, in the order the records come: the
 * day's charges so far are read once per wallet and day, then kept here.
 */
final class SqliteNodeWrite implements NodeStore.NodeWrite {

  static final String AGGREGATOR = "aggregator";

  private record WalletDay(long walletId, long epochDay) {}

  /** One wallet's usage on one day in this write. */
  private static final class DaySpend {
    final long chargedBefore;
    final SqliteWalletCache.Entry wallet;
    final String userSid;
    long charged;
    long waived;

    DaySpend(long chargedBefore, SqliteWalletCache.Entry wallet, String userSid) {
      this.chargedBefore = chargedBefore;
      this.wallet = wallet;
      this.userSid = userSid;
    }
  }

  /** Charges of one wallet in one node's run. */
  private static final class Charge {
    final long txnId;
    long cents;
    int records;

    Charge(long txnId) {
      this.txnId = txnId;
    }
  }

  private final SqliteNodeStore store;
  private final SqliteNodeGroup group;
  /** Alone in its group ({@link NodeStore#beginNode}): its commit commits the group. */
  private final boolean alone;
  private final SqliteDb db;
  private final SqliteWalletRows rows;
  private final SqliteSpend spend;
  private final String node;
  private final long nodeId;
  private final String now;
  private final Map<String, SqliteWalletCache.Entry> wallets = new HashMap<>();
  /** Wallets opened by this write: cached only once its group commits. */
  private final Map<String, SqliteWalletCache.Entry> created = new HashMap<>();
  private final Map<Long, Charge> charges = new LinkedHashMap<>();
  /** Per wallet and UTC day of the records: the day's charges before this write, and this write's. */
  private final Map<WalletDay, DaySpend> days = new LinkedHashMap<>();
  private final List<BudgetAlert> alertsFired = new ArrayList<>();
  /** Whether the node had active holds when this write began (the write lock keeps it so). */
  private final boolean settling;
  /**
   * The keys consumed by this write and their users, kept only when {@link #settling}: the holds of
   * those users for those keys are settled at commit.
   */
  private final Map<String, String> settledKeys = new HashMap<>();
  /** This run's new records, not yet written; by key, to find a key that comes again. */
  private final ConsumedRows staged = new ConsumedRows();
  private final Map<String, ConsumedRows.Row> stagedByKey = new HashMap<>();
  /** Whether the consumed-record index may hold records of the node: null until asked. */
  private Boolean nodeHasRecords;
  private long nextTxnId;
  private long consumed;
  private long duplicates;
  private long debited;
  private long newestOccurredAtMs = Long.MIN_VALUE;
  private boolean done;

  /** Call holding {@code store.db()}, inside the savepoint just opened. */
  SqliteNodeWrite(SqliteNodeStore store, SqliteNodeGroup group, String node, boolean alone) throws SQLException {
    this.store = store;
    this.group = group;
    this.alone = alone;
    this.db = store.db();
    this.rows = store.rows();
    this.spend = store.spend;
    this.node = node;
    this.now = db.clock.instant().toString();
    this.nodeId = store.ensureNode(node);
    this.nextTxnId = rows.nextTxnId();
    this.settling = store.holds.hasActive(node);
  }

  @Override
  public void add(String path, List<UsageRecord> records) throws BatchContentException {
    synchronized (db) {
      try {
        long fileId = fileId(path);
        for (int from = 0; from < records.size(); from += LOOKED_UP_AT_ONCE) {
          List<UsageRecord> chunk = records.subList(from, Math.min(records.size(), from + LOOKED_UP_AT_ONCE));
          Map<String, Prior> prior = consumedBefore(chunk);
          for (UsageRecord r : chunk) {
            consume(path, fileId, r, prior);
          }
          // Only between chunks: a chunk's look-up must not miss a key held, then written, within it.
          if (staged.size() >= ConsumedRows.STAGED_AT_MOST) {
            writeStaged();
          }
        }
      } catch (SQLException e) {
        throw db.failure("consume the records of " + path, e);
      }
    }
  }

  private void consume(String path, long fileId, UsageRecord r, Map<String, Prior> prior)
      throws SQLException, BatchContentException {
    if (consumedBefore(path, r, prior)) {
      duplicates++;
      return;
    }
    SqliteWalletCache.Entry wallet = walletFor(r.userSid());
    long walletId = wallet.walletId();
    Charge charge = charges.computeIfAbsent(walletId, id -> new Charge(nextTxnId++));
    long occurredAtMs = r.occurredAt().toEpochMilli();
    DaySpend day = daySpend(wallet, r.userSid(), SqliteSpend.epochDay(occurredAtMs));
    DailyCap.Split split = DailyCap.split(r.costCents(), Math.addExact(day.chargedBefore, day.charged),
        wallet.settings().dailyCapCents());
    ConsumedRows.Row row = new ConsumedRows.Row(nodeId, r.idempotencyKey(), walletId, r.costCents(), occurredAtMs,
        charge.txnId, fileId, r.resource(), r.quantity(), split.waivedCents(), r.userSid());
    charge.cents = Math.addExact(charge.cents, split.chargedCents());
    charge.records++;
    day.charged = Math.addExact(day.charged, split.chargedCents());
    day.waived = Math.addExact(day.waived, split.waivedCents());
    debited = Math.addExact(debited, split.chargedCents());
    newestOccurredAtMs = Math.max(newestOccurredAtMs, occurredAtMs);
    consumed++;
    if (settling) {
      settledKeys.put(r.idempotencyKey(), r.userSid());
    }
    staged.add(row);
    stagedByKey.put(row.key(), row);
  }

  /** Writes this run's records so far, inside its savepoint: a long run's memory stays bounded. */
  private void writeStaged() throws SQLException {
    staged.write(db, store.segments);
    stagedByKey.clear();
    nodeHasRecords = true;
  }

  /** Keys looked up in one statement: one statement per record cost a sixth of a node's run. */
  static final int LOOKED_UP_AT_ONCE = 50;

  /**
   * The records among {@code chunk}'s keys that the consumed-record index holds for the node: in
   * its newest level, then in the segments whose filters may hold them.
   */
  private Map<String, Prior> consumedBefore(List<UsageRecord> chunk) throws SQLException {
    if (!nodeHasRecords()) {
      return Map.of();
    }
    List<String> keys = new ArrayList<>(chunk.size());
    for (UsageRecord r : chunk) {
      keys.add(r.idempotencyKey());
    }
    Map<String, Prior> found = new HashMap<>();
    store.segments.lookUp(group.segments(), nodeId, keys, found);
    return found;
  }

  /**
   * Whether the record's key was consumed before, in an earlier run ({@code prior}) or earlier in
   * this one, with the same user and cost; consumed with another, the record is refused.
   */
  private boolean consumedBefore(String path, UsageRecord r, Map<String, Prior> prior) throws BatchContentException {
    ConsumedRows.Row earlier = stagedByKey.get(r.idempotencyKey());
    if (earlier != null) {
      requireSame(path, r, earlier.userSid(), earlier.costCents());
      return true;
    }
    Prior before = prior.get(r.idempotencyKey());
    if (before == null) {
      return false;
    }
    requireSame(path, r, before.userSid(), before.costCents());
    return true;
  }

  private boolean nodeHasRecords() throws SQLException {
    if (nodeHasRecords == null) {
      nodeHasRecords = store.segments.holdNode(group.segments(), nodeId);
    }
    return nodeHasRecords;
  }

  private static void requireSame(String path, UsageRecord r, String userSid, long costCents)
      throws BatchContentException {
    if (!userSid.equals(r.userSid()) || costCents != r.costCents()) {
      throw new BatchContentException(path, r.line(), "idempotency_key \"" + r.idempotencyKey()
          + "\" was consumed with user_sid \"" + userSid + "\" and cost_cents " + costCents
          + "; this record has user_sid \"" + r.userSid() + "\" and cost_cents " + r.costCents());
    }
  }

  /** The wallet's spend on a day; its charges before this write are read only under a cap. */
  private DaySpend daySpend(SqliteWalletCache.Entry wallet, String userSid, long epochDay) throws SQLException {
    WalletDay key = new WalletDay(wallet.walletId(), epochDay);
    DaySpend day = days.get(key);
    if (day == null) {
      long before = wallet.settings().dailyCapCents() == 0 ? 0 : spend.chargedOn(wallet.walletId(), epochDay);
      day = new DaySpend(before, wallet, userSid);
      days.put(key, day);
    }
    return day;
  }

  private SqliteWalletCache.Entry walletFor(String userSid) throws SQLException {
    SqliteWalletCache.Entry wallet = wallets.get(userSid);
    if (wallet == null) {
      wallet = store.walletCache.get(userSid);
    }
    if (wallet == null) {
      wallet = rows.walletEntry(userSid);
      if (wallet != null) {
        store.walletCache.put(userSid, wallet);
      } else {
        wallet = new SqliteWalletCache.Entry(rows.ensureWallet(userSid, now), WalletSettings.DEFAULT);
        created.put(userSid, wallet);
      }
    }
    wallets.put(userSid, wallet);
    return wallet;
  }

  private long fileId(String path) throws SQLException {
    PreparedStatement ins = db.stmt(
        "INSERT INTO source_file (node_id, path) VALUES (?, ?) ON CONFLICT (node_id, path) DO NOTHING");
    ins.setLong(1, nodeId);
    ins.setString(2, path);
    ins.executeUpdate();
    PreparedStatement ps = db.stmt("SELECT file_id FROM source_file WHERE node_id = ? AND path = ?");
    ps.setLong(1, nodeId);
    ps.setString(2, path);
    try (ResultSet rs = ps.executeQuery()) {
      rs.next();
      return rs.getLong(1);
    }
  }

  @Override
  public long debitedCents() {
    return debited;
  }

  @Override
  public NodeApplied commit(NodeCursor cursor, Consumer<NodeStore.CommitStage> probe) {
    synchronized (db) {
      try {
        writeCharges(cursor);
        writeSpendAndAlerts();
        store.holds.settle(node, settledKeys, now);
        probe.accept(NodeStore.CommitStage.LEDGER_ROWS_WRITTEN);
        probe.accept(NodeStore.CommitStage.BEFORE_CURSOR);
        if (!group.dryRun()) {
          store.leases.endClaim(db, node, "commit");
        }
        moveCursor(cursor);
        // Built before COMMIT: after it, nothing may fail (not even an allocation) and turn a
        // committed run into a reported failure.
        NodeApplied applied = new NodeApplied(consumed, duplicates, debited,
            consumed == 0 ? null : Instant.ofEpochMilli(newestOccurredAtMs));
        group.released(this, created, consumed, staged);
        done = true;
        if (alone) {
          group.commit();
        }
        return applied;
      } catch (SQLException e) {
        throw db.failure("commit the run of node " + node, e);
      } finally {
        close();
      }
    }
  }

  String node() {
    return node;
  }

  /** The charges' ledger rows (chained, in id order), then each wallet's balance move. */
  private void writeCharges(NodeCursor cursor) throws SQLException {
    List<SqliteWalletRows.Txn> txns = new ArrayList<>(charges.size());
    for (Map.Entry<Long, Charge> e : charges.entrySet()) {
      Charge c = e.getValue();
      txns.add(new SqliteWalletRows.Txn(c.txnId, e.getKey(), TxnType.CHARGE, -c.cents, now, AGGREGATOR, nodeId,
          cursor.lastCommitSha(), c.records, null));
    }
    rows.insertTxns(txns, rows.lastHash());
    List<SqliteWalletRows.BalanceMove> moves = new ArrayList<>(charges.size());
    for (Map.Entry<Long, Charge> e : charges.entrySet()) {
      moves.add(new SqliteWalletRows.BalanceMove(e.getKey(), -e.getValue().cents, e.getValue().txnId));
    }
    rows.addToBalances(moves, now);
  }

  /**
   * Moves the daily counters, then fires the alerts the cycles touched have reached: after the
   * charges, so that an alert's spend counts them and its as-of transaction is the newest.
   */
  private void writeSpendAndAlerts() throws SQLException {
    Map<Long, Map<String, DaySpend>> cycles = new LinkedHashMap<>();
    List<SqliteSpend.DayAddition> additions = new ArrayList<>(days.size());
    for (Map.Entry<WalletDay, DaySpend> e : days.entrySet()) {
      DaySpend day = e.getValue();
      if (day.charged == 0 && day.waived == 0) {
        continue;
      }
      additions.add(new SqliteSpend.DayAddition(e.getKey().walletId(), day.userSid, e.getKey().epochDay(), day.charged,
          day.waived));
      cycles.computeIfAbsent(e.getKey().walletId(), id -> new LinkedHashMap<>())
          .putIfAbsent(SqliteSpend.cycleOf(e.getKey().epochDay()), day);
    }
    spend.addAll(additions);
    long asOfTxnId = nextTxnId - 1;
    Instant firedAt = Instant.parse(now);
    for (Map.Entry<Long, Map<String, DaySpend>> wallet : cycles.entrySet()) {
      for (Map.Entry<String, DaySpend> cycle : wallet.getValue().entrySet()) {
        DaySpend day = cycle.getValue();
        alertsFired.addAll(spend.fireDue(wallet.getKey(), day.userSid, day.wallet.settings(), cycle.getKey(),
            asOfTxnId, firedAt, false));
      }
    }
  }

  /** Moves the cursor and clears a halt: a halted node that a run consumed is resumed. */
  private void moveCursor(NodeCursor cursor) throws SQLException {
    NodeEvents.resumed(store.outbox(), store.nodeByName(node), NodeEvents.ResumeReason.RUN);
    PreparedStatement ps = db.stmt("UPDATE node SET last_commit_sha = ?, tree_id = ?, "
        + "status = 'ok', error_kind = NULL, error_file = NULL, error_line = NULL, error_message = NULL, "
        + "halted_since = NULL, halted_tree_id = NULL, warning = ?, last_run_at = ?, "
        + "records_consumed_total = records_consumed_total + ? WHERE node_id = ?");
    ps.setString(1, cursor.lastCommitSha());
    ps.setString(2, cursor.treeId());
    ps.setString(3, cursor.warning());
    ps.setString(4, now);
    ps.setLong(5, consumed);
    ps.setLong(6, nodeId);
    ps.executeUpdate();
  }

  @Override
  public void close() {
    synchronized (db) {
      if (!done) {
        done = true;
        group.abandoned(this);
      }
      if (alone) {
        group.close();
      }
    }
  }
}
