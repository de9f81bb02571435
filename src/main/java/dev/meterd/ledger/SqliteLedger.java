package dev.meterd.ledger;

import dev.meterd.batch.BatchContentException;
import dev.meterd.batch.UsageRecord;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import org.sqlite.SQLiteConfig;

/**
 * The ledger in one SQLite file.
 *
 * <p>Implementation notes. Every write is one {@code BEGIN IMMEDIATE} transaction (WAL,
 * {@code synchronous=FULL}: this is money), so a crash leaves either the old state or the new
 * one, and two processes on one file serialize on the write lock. Dedup is the primary key of
 * {@code consumed_record}: a record is inserted with {@code ON CONFLICT DO NOTHING} and only a
 * refused insert is looked up, to tell a duplicate from a conflict. Charge transaction ids are
 * allocated inside the write transaction (the lock is held, so nobody else allocates), which
 * lets each consumed record point at its charge before the charge row, whose amount is known
 * only at the end, is written. Every ledger row carries a hash chained to the row before it,
 * so that {@link #verify} can prove no row was changed after it was written.
 *
 * <p>One instance owns one connection and is used by one thread at a time; the public methods
 * are synchronized so that a daemon's worker and its HTTP handlers can share it.
 */
public final class SqliteLedger implements Ledger {

  static final String AGGREGATOR = "aggregator";
  /** How long a write waits for another connection's write lock before it fails (transient). */
  public static final int DEFAULT_BUSY_TIMEOUT_MS = 10_000;

  private final Connection conn;
  private final Clock clock;
  private final String where;
  /**
   * The run lock's file, beside the database's real path: every name of one database (relative,
   * absolute, through a symbolic link) must lock the same file.
   */
  private final Path runLockFile;
  /** Prepared once, reused: preparing costs more than executing the small statements here. */
  private final Map<String, PreparedStatement> statements = new HashMap<>();
  /**
   * Committed wallets' ids (a wallet is never deleted, so an id once committed stays true). Only
   * a speed-up in front of the wallet table: a miss reads the table.
   */
  private final Cache<String, Long> walletIdCache = Caffeine.newBuilder().maximumSize(100_000).build();
  /**
   * Every node's track, as of {@link #trackCacheVersion}: reloaded when another connection has
   * committed (PRAGMA data_version moved), patched row by row after this connection's own writes.
   */
  private Map<String, NodeTrack> trackCache;
  private long trackCacheVersion;

  private SqliteLedger(Connection conn, Clock clock, String where, Path runLockFile) {
    this.conn = conn;
    this.clock = clock;
    this.where = where;
    this.runLockFile = runLockFile;
  }

  /** Opens (creating or upgrading) the ledger in {@code file}. */
  public static SqliteLedger open(Path file, Clock clock) {
    return open(file, clock, DEFAULT_BUSY_TIMEOUT_MS);
  }

  /** As {@link #open(Path, Clock)}, waiting at most {@code busyTimeoutMs} for another writer. */
  public static SqliteLedger open(Path file, Clock clock, int busyTimeoutMs) {
    try {
      Path parent = file.toAbsolutePath().getParent();
      if (parent != null) {
        Files.createDirectories(parent);
      }
    } catch (IOException e) {
      throw new LedgerException("cannot create the folder of the database " + file + ": " + e.getMessage(), e);
    }
    SQLiteConfig config = new SQLiteConfig();
    config.setJournalMode(SQLiteConfig.JournalMode.WAL);
    config.setSynchronous(SQLiteConfig.SynchronousMode.FULL);
    config.setBusyTimeout(busyTimeoutMs);
    config.enforceForeignKeys(true);
    config.setCacheSize(-32_768);
    Connection conn = null;
    try {
      conn = DriverManager.getConnection("jdbc:sqlite:" + file, config.toProperties());
      Migrations.upgrade(conn, file.toString());
      Path real = file.toRealPath();
      return new SqliteLedger(conn, clock, file.toString(), real.resolveSibling(real.getFileName() + ".run-lock"));
    } catch (SQLException | IOException e) {
      closeQuietly(conn);
      throw new LedgerException("cannot open the database " + file + ": " + e.getMessage(), e);
    } catch (RuntimeException e) {
      closeQuietly(conn);
      throw e;
    }
  }

  private static void closeQuietly(Connection conn) {
    if (conn != null) {
      try {
        conn.close();
      } catch (SQLException suppressed) {
        // The open already failed; its exception is the one to report.
      }
    }
  }

  private PreparedStatement stmt(String sql) throws SQLException {
    PreparedStatement ps = statements.get(sql);
    if (ps == null) {
      ps = conn.prepareStatement(sql);
      statements.put(sql, ps);
    }
    return ps;
  }

  @Override
  public synchronized void close() {
    try {
      for (PreparedStatement ps : statements.values()) {
        ps.close();
      }
      conn.close();
    } catch (SQLException e) {
      throw new LedgerException("cannot close the database " + where + ": " + e.getMessage(), e);
    }
  }

  // ---- run mark and nodes

  @Override
  public synchronized RunMark runMark() {
    return query("read the run mark", () -> {
      try (Statement st = conn.createStatement();
          ResultSet rs = st.executeQuery(
              "SELECT full_tip, nodes_total, generation, last_tip FROM run_mark WHERE id = 1")) {
        rs.next();
        return new RunMark(rs.getString(1), rs.getInt(2), rs.getLong(3), rs.getString(4));
      }
    });
  }

  @Override
  public synchronized boolean setRunMark(RunMark mark) {
    return write("record the run mark", () -> {
      PreparedStatement last = stmt("UPDATE run_mark SET last_tip = ? WHERE id = 1");
      last.setString(1, mark.lastTip());
      last.executeUpdate();
      PreparedStatement ps = stmt(
          "UPDATE run_mark SET full_tip = ?, nodes_total = ? WHERE id = 1 AND generation = ?");
      ps.setString(1, mark.fullTip());
      ps.setInt(2, mark.nodesTotal());
      ps.setLong(3, mark.generation());
      return ps.executeUpdate() == 1;
    });
  }

  /** Makes the next run look at every node, whatever the branch tip (inside a write). */
  private void clearRunMark() throws SQLException {
    stmt("UPDATE run_mark SET full_tip = NULL, generation = generation + 1 WHERE id = 1").executeUpdate();
  }

  @Override
  public synchronized List<NodeState> haltedNodes() {
    return query("read the halted nodes", () -> {
      List<NodeState> result = new ArrayList<>();
      try (Statement st = conn.createStatement();
          ResultSet rs = st.executeQuery("SELECT " + NODE_COLUMNS + " FROM node WHERE status = 'halted' ORDER BY name")) {
        while (rs.next()) {
          result.add(nodeState(rs));
        }
      }
      return result;
    });
  }

  private static final String NODE_COLUMNS = "name, status, last_commit_sha, tree_id, last_run_at, "
      + "records_consumed_total, error_kind, error_file, error_line, error_message, halted_since, "
      + "halted_tree_id, warning";

  @Override
  public synchronized Map<String, NodeState> nodes() {
    return query("read the node states", () -> {
      Map<String, NodeState> result = new LinkedHashMap<>();
      try (Statement st = conn.createStatement();
          ResultSet rs = st.executeQuery("SELECT " + NODE_COLUMNS + " FROM node ORDER BY name")) {
        while (rs.next()) {
          NodeState state = nodeState(rs);
          result.put(state.node(), state);
        }
      }
      return result;
    });
  }

  @Override
  public synchronized Map<String, NodeTrack> tracks() {
    return query("read the node cursors", () -> {
      long version = dataVersion();
      if (trackCache == null || version != trackCacheVersion) {
        trackCache = loadTracks();
        trackCacheVersion = version;
      }
      return new HashMap<>(trackCache);
    });
  }

  /** Changes whenever another connection commits to the file; this connection's own commits don't. */
  private long dataVersion() throws SQLException {
    try (ResultSet rs = stmt("PRAGMA data_version").executeQuery()) {
      rs.next();
      return rs.getLong(1);
    }
  }

  private static final String TRACK_SELECT = "SELECT name, last_commit_sha, tree_id, error_kind, halted_tree_id FROM node";

  /** Keeps the cache of tracks true after this connection changed a node. */
  private void refreshTrack(String node) throws SQLException {
    if (trackCache == null) {
      return;
    }
    PreparedStatement ps = stmt(TRACK_SELECT + " WHERE name = ?");
    ps.setString(1, node);
    try (ResultSet rs = ps.executeQuery()) {
      if (rs.next()) {
        trackCache.put(rs.getString(1), track(rs));
      }
    }
  }

  private Map<String, NodeTrack> loadTracks() throws SQLException {
    Map<String, NodeTrack> result = new HashMap<>();
    try (ResultSet rs = stmt(TRACK_SELECT).executeQuery()) {
      while (rs.next()) {
        result.put(rs.getString(1), track(rs));
      }
    }
    return result;
  }

  private static NodeTrack track(ResultSet rs) throws SQLException {
    String kind = rs.getString(4);
    return new NodeTrack(rs.getString(2), rs.getString(3),
        kind == null ? null : NodeError.Kind.valueOf(kind.toUpperCase(java.util.Locale.ROOT)), rs.getString(5));
  }

  @Override
  public synchronized Optional<NodeState> node(String name) {
    return query("read the node state of " + name, () -> nodeByName(name));
  }

  private Optional<NodeState> nodeByName(String name) throws SQLException {
    PreparedStatement ps = stmt("SELECT " + NODE_COLUMNS + " FROM node WHERE name = ?");
    ps.setString(1, name);
    try (ResultSet rs = ps.executeQuery()) {
      return rs.next() ? Optional.of(nodeState(rs)) : Optional.empty();
    }
  }

  private static NodeState nodeState(ResultSet rs) throws SQLException {
    String kind = rs.getString("error_kind");
    NodeError error = kind == null ? null : new NodeError(
        NodeError.Kind.valueOf(kind.toUpperCase(java.util.Locale.ROOT)),
        rs.getString("error_file"),
        (Integer) rs.getObject("error_line"),
        rs.getString("error_message"));
    return new NodeState(
        rs.getString("name"),
        "halted".equals(rs.getString("status")) ? NodeState.Status.HALTED : NodeState.Status.OK,
        rs.getString("last_commit_sha"),
        rs.getString("tree_id"),
        instant(rs.getString("last_run_at")),
        rs.getLong("records_consumed_total"),
        error,
        instant(rs.getString("halted_since")),
        rs.getString("halted_tree_id"),
        rs.getString("warning"));
  }

  private static Instant instant(String text) {
    return text == null ? null : Instant.parse(text);
  }

  private long ensureNode(String name) throws SQLException {
    {
      PreparedStatement ins = stmt("INSERT INTO node (name) VALUES (?) ON CONFLICT (name) DO NOTHING");
      ins.setString(1, name);
      ins.executeUpdate();
    }
    PreparedStatement ps = stmt("SELECT node_id FROM node WHERE name = ?");
    ps.setString(1, name);
    try (ResultSet rs = ps.executeQuery()) {
      rs.next();
      return rs.getLong(1);
    }
  }

  @Override
  public synchronized NodeState halt(String node, NodeError error, String haltedTreeId) {
    return write("halt node " + node, () -> {
      ensureNode(node);
      String now = clock.instant().toString();
      PreparedStatement ps = stmt("UPDATE node SET status = 'halted', error_kind = ?, "
          + "error_file = ?, error_line = ?, error_message = ?, halted_since = coalesce(halted_since, ?), "
          + "halted_tree_id = ?, last_run_at = ? WHERE name = ?");
      ps.setString(1, error.kind().name().toLowerCase(java.util.Locale.ROOT));
      ps.setString(2, error.file());
      setNullableInt(ps, 3, error.line());
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
      refreshTrack(node);
      return nodeByName(node).orElseThrow();
    });
  }

  @Override
  public synchronized Optional<NodeState> resume(String node) {
    return write("resume node " + node, () -> {
      PreparedStatement ps = stmt("UPDATE node SET status = 'ok', error_kind = NULL, "
          + "error_file = NULL, error_line = NULL, error_message = NULL, halted_since = NULL, "
          + "halted_tree_id = NULL WHERE name = ?");
      ps.setString(1, node);
      if (ps.executeUpdate() == 0) {
        return Optional.empty();
      }
      // The next poll must look at the nodes even if the branch tip has not moved.
      clearRunMark();
      refreshTrack(node);
      return nodeByName(node);
    });
  }

  // ---- wallets and transactions

  @Override
  public synchronized Optional<Wallet> wallet(String userSid) {
    return query("read the wallet of " + userSid, () -> {
      PreparedStatement ps = stmt(
          "SELECT user_sid, balance_cents, created_at, updated_at FROM wallet WHERE user_sid = ?");
      ps.setString(1, userSid);
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next() ? Optional.of(wallet(rs)) : Optional.empty();
      }
    });
  }

  private static Wallet wallet(ResultSet rs) throws SQLException {
    return new Wallet(rs.getString(1), rs.getLong(2), instant(rs.getString(3)), instant(rs.getString(4)));
  }

  @Override
  public synchronized List<Wallet> wallets() {
    return query("list the wallets", () -> {
      List<Wallet> result = new ArrayList<>();
      try (Statement st = conn.createStatement();
          ResultSet rs = st.executeQuery(
              "SELECT user_sid, balance_cents, created_at, updated_at FROM wallet ORDER BY user_sid")) {
        while (rs.next()) {
          result.add(wallet(rs));
        }
      }
      return result;
    });
  }

  @Override
  public synchronized List<LedgerTxn> transactions(String userSid, int limit) {
    return query("read the transactions of " + userSid, () -> {
      PreparedStatement ps = stmt(TXN_SELECT + "WHERE w.user_sid = ? ORDER BY t.txn_id DESC LIMIT ?");
      ps.setString(1, userSid);
      ps.setInt(2, limit);
      return txns(ps);
    });
  }

  @Override
  public synchronized List<LedgerTxn> transactionPage(java.util.Set<TxnType> types, Long beforeTxnId, int limit) {
    if (types.isEmpty()) {
      return List.of();
    }
    StringBuilder in = new StringBuilder();
    for (TxnType t : types) {
      in.append(in.length() == 0 ? "'" : ",'").append(t.sqlName()).append('\'');
    }
    return query("page through the ledger", () -> {
      PreparedStatement ps = stmt(TXN_SELECT + "WHERE t.type IN (" + in + ") AND t.txn_id < ? "
          + "ORDER BY t.txn_id DESC LIMIT ?");
      ps.setLong(1, beforeTxnId == null ? Long.MAX_VALUE : beforeTxnId);
      ps.setInt(2, limit);
      return txns(ps);
    });
  }

  private static final String TXN_SELECT = "SELECT t.txn_id, w.user_sid, t.type, t.amount_cents, "
      + "t.occurred_at, t.initiated_by, n.name, t.source_commit, t.source_records, t.note "
      + "FROM ledger_txn t JOIN wallet w ON w.wallet_id = t.wallet_id "
      + "LEFT JOIN node n ON n.node_id = t.source_node_id ";

  private static List<LedgerTxn> txns(PreparedStatement ps) throws SQLException {
    List<LedgerTxn> result = new ArrayList<>();
    try (ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        result.add(new LedgerTxn(rs.getLong(1), rs.getString(2), TxnType.fromSql(rs.getString(3)),
            rs.getLong(4), instant(rs.getString(5)), rs.getString(6), rs.getString(7), rs.getString(8),
            (Integer) rs.getObject(9), rs.getString(10)));
      }
    }
    return result;
  }

  @Override
  public synchronized List<UsageBucket> usage(Bucket bucket, java.time.LocalDate from, java.time.LocalDate to) {
    String day = "date(occurred_at_ms / 1000, 'unixepoch')";
    String start = switch (bucket) {
      case DAY -> day;
      case WEEK -> "date(" + day + ", '-6 days', 'weekday 1')";
      case MONTH -> "strftime('%Y-%m-01', " + day + ")";
    };
    return query("sum the usage by " + bucket.name().toLowerCase(java.util.Locale.ROOT), () -> {
      PreparedStatement ps = stmt("SELECT " + start + " AS b, count(*), sum(cost_cents) FROM consumed_record "
          + "WHERE occurred_at_ms >= ? AND occurred_at_ms < ? GROUP BY b ORDER BY b");
      ps.setLong(1, from == null ? Long.MIN_VALUE : from.atStartOfDay(java.time.ZoneOffset.UTC).toInstant().toEpochMilli());
      ps.setLong(2, to == null ? Long.MAX_VALUE : to.atStartOfDay(java.time.ZoneOffset.UTC).toInstant().toEpochMilli());
      List<UsageBucket> result = new ArrayList<>();
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          result.add(new UsageBucket(java.time.LocalDate.parse(rs.getString(1)), rs.getLong(2), rs.getLong(3)));
        }
      }
      return result;
    });
  }

  @Override
  public synchronized Instant newestOccurredAt() {
    return query("find the newest consumed record", () -> {
      try (ResultSet rs = stmt("SELECT max(occurred_at_ms) FROM consumed_record").executeQuery()) {
        rs.next();
        long ms = rs.getLong(1);
        return rs.wasNull() ? null : Instant.ofEpochMilli(ms);
      }
    });
  }

  @Override
  public synchronized LedgerTxn credit(String userSid, TxnType type, long amountCents, String initiatedBy,
      String note) {
    checkCredit(type, amountCents);
    return write("credit the wallet of " + userSid,
        () -> creditRow(clock.instant(), userSid, type, amountCents, initiatedBy, note));
  }

  private static void checkCredit(TxnType type, long amountCents) {
    if (type == TxnType.CHARGE) {
      throw new IllegalArgumentException("credit takes a grant, top-up or refund, not a charge");
    }
    if (amountCents <= 0) {
      throw new IllegalArgumentException("a credit must be > 0 cents, got " + amountCents);
    }
  }

  private LedgerTxn creditRow(Instant now, String userSid, TxnType type, long amountCents, String initiatedBy,
      String note) throws SQLException {
    long walletId = ensureWallet(userSid, now.toString());
    long txnId = nextTxnId();
    Txn txn = new Txn(txnId, walletId, type, amountCents, now.toString(), initiatedBy, null, null, null, note);
    insertTxn(txn, lastHash());
    addToBalance(walletId, amountCents, now.toString());
    return new LedgerTxn(txnId, userSid, type, amountCents, now, initiatedBy, null, null, null, note);
  }

  // ---- idempotent credits: the key, the credit and its answer in one transaction

  @Override
  public synchronized Idempotent creditOnce(Idempotent.Claim claim, String userSid, TxnType type, long amountCents,
      String note, java.util.function.Function<LedgerTxn, Idempotent.Response> respond) {
    checkCredit(type, amountCents);
    return write("credit the wallet of " + userSid + " under idempotency key " + claim.key(), () -> {
      Instant now = clock.instant();
      Optional<Idempotent> before = SqliteIdempotencyKeys.claim(conn, claim, now);
      if (before.isPresent()) {
        return before.get();
      }
      LedgerTxn txn = creditRow(now, userSid, type, amountCents, claim.initiatedBy(), note);
      Idempotent.Response response = respond.apply(txn);
      SqliteIdempotencyKeys.answer(conn, claim.key(), response, txn.txnId());
      return new Idempotent.Applied(response);
    });
  }

  private long ensureWallet(String userSid, String now) throws SQLException {
    Long id = walletId(userSid);
    if (id != null) {
      return id;
    }
    PreparedStatement ps = stmt(
        "INSERT INTO wallet (user_sid, balance_cents, created_at, updated_at) VALUES (?, 0, ?, ?)");
    ps.setString(1, userSid);
    ps.setString(2, now);
    ps.setString(3, now);
    ps.executeUpdate();
    try (ResultSet rs = stmt("SELECT last_insert_rowid()").executeQuery()) {
      rs.next();
      return rs.getLong(1);
    }
  }

  private Long walletId(String userSid) throws SQLException {
    PreparedStatement ps = stmt("SELECT wallet_id FROM wallet WHERE user_sid = ?");
    ps.setString(1, userSid);
    try (ResultSet rs = ps.executeQuery()) {
      return rs.next() ? rs.getLong(1) : null;
    }
  }

  /**
   * Adds to a balance in Java, inside the caller's write transaction: SQLite turns an overflowing
   * {@code balance_cents + ?} into a REAL, which the schema's typeof check refuses with a message
   * that names no wallet.
   *
   * @throws BalanceOutOfRangeException the sum leaves the 64-bit range; the caller rolls back
   */
  private void addToBalance(long walletId, long deltaCents, String now) throws SQLException {
    PreparedStatement read = stmt("SELECT user_sid, balance_cents FROM wallet WHERE wallet_id = ?");
    read.setLong(1, walletId);
    long balance;
    String userSid;
    try (ResultSet rs = read.executeQuery()) {
      rs.next();
      userSid = rs.getString(1);
      balance = rs.getLong(2);
    }
    long updated;
    try {
      updated = Math.addExact(balance, deltaCents);
    } catch (ArithmeticException e) {
      throw new BalanceOutOfRangeException(userSid, balance, deltaCents);
    }
    PreparedStatement ps = stmt("UPDATE wallet SET balance_cents = ?, updated_at = ? WHERE wallet_id = ?");
    ps.setLong(1, updated);
    ps.setString(2, now);
    ps.setLong(3, walletId);
    ps.executeUpdate();
  }

  private long nextTxnId() throws SQLException {
    try (ResultSet rs = stmt("SELECT coalesce(max(txn_id), 0) + 1 FROM ledger_txn").executeQuery()) {
      rs.next();
      return rs.getLong(1);
    }
  }

  private String lastHash() throws SQLException {
    try (ResultSet rs = stmt("SELECT row_hash FROM ledger_txn ORDER BY txn_id DESC LIMIT 1").executeQuery()) {
      return rs.next() ? rs.getString(1) : TxnHash.GENESIS;
    }
  }

  /** A ledger row as written; {@link TxnHash} hashes exactly these fields. */
  record Txn(long txnId, long walletId, TxnType type, long amountCents, String occurredAt, String initiatedBy,
      Long sourceNodeId, String sourceCommit, Integer sourceRecords, String note) {}

  private String insertTxn(Txn t, String previousHash) throws SQLException {
    String hash = TxnHash.of(previousHash, t);
    PreparedStatement ps = stmt("INSERT INTO ledger_txn (txn_id, wallet_id, type, "
        + "amount_cents, occurred_at, initiated_by, source_node_id, source_commit, source_records, note, "
        + "row_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    ps.setLong(1, t.txnId());
    ps.setLong(2, t.walletId());
    ps.setString(3, t.type().sqlName());
    ps.setLong(4, t.amountCents());
    ps.setString(5, t.occurredAt());
    ps.setString(6, t.initiatedBy());
    if (t.sourceNodeId() == null) {
      ps.setNull(7, Types.INTEGER);
    } else {
      ps.setLong(7, t.sourceNodeId());
    }
    ps.setString(8, t.sourceCommit());
    setNullableInt(ps, 9, t.sourceRecords());
    ps.setString(10, t.note());
    ps.setString(11, hash);
    ps.executeUpdate();
    return hash;
  }

  private static void setNullableInt(PreparedStatement ps, int index, Integer value) throws SQLException {
    if (value == null) {
      ps.setNull(index, Types.INTEGER);
    } else {
      ps.setInt(index, value);
    }
  }

  // ---- one node's run

  @Override
  public synchronized NodeWrite beginNode(String node, boolean dryRun) {
    try {
      SqliteTransactions.beginImmediate(conn);
      return new SqliteNodeWrite(node, dryRun);
    } catch (SQLException e) {
      SqliteTransactions.rollback(conn, e);
      throw failure("start the run of node " + node, e);
    } catch (RuntimeException | Error e) {
      SqliteTransactions.rollback(conn, e);
      throw e;
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

  private final class SqliteNodeWrite implements NodeWrite {
    private final String node;
    private final boolean dryRun;
    private final long nodeId;
    private final String now;
    private final Map<String, Long> walletIds = new HashMap<>();
    /** Wallets opened by this write: cached only once it commits. */
    private final Map<String, Long> created = new HashMap<>();
    private final Map<Long, Charge> charges = new LinkedHashMap<>();
    private final PreparedStatement insertRecord;
    private long nextTxnId;
    private long consumed;
    private long duplicates;
    private long debited;
    private long newestOccurredAtMs = Long.MIN_VALUE;
    private boolean done;

    SqliteNodeWrite(String node, boolean dryRun) throws SQLException {
      this.node = node;
      this.dryRun = dryRun;
      this.now = clock.instant().toString();
      this.nodeId = ensureNode(node);
      this.nextTxnId = nextTxnId();
      this.insertRecord = stmt("INSERT INTO consumed_record (node_id, idempotency_key, "
          + "wallet_id, cost_cents, occurred_at_ms, txn_id, file_id, resource, quantity) "
          + "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (node_id, idempotency_key) DO NOTHING");
    }

    @Override
    public void add(String path, List<UsageRecord> records) throws BatchContentException {
      synchronized (SqliteLedger.this) {
        try {
          long fileId = fileId(path);
          for (UsageRecord r : records) {
            consume(path, fileId, r);
          }
        } catch (SQLException e) {
          throw failure("consume the records of " + path, e);
        }
      }
    }

    private void consume(String path, long fileId, UsageRecord r) throws SQLException, BatchContentException {
      long walletId = walletIdFor(r.userSid());
      Charge charge = charges.get(walletId);
      boolean fresh = charge == null;
      if (fresh) {
        charge = new Charge(nextTxnId++);
      }
      insertRecord.setLong(1, nodeId);
      insertRecord.setString(2, r.idempotencyKey());
      insertRecord.setLong(3, walletId);
      insertRecord.setLong(4, r.costCents());
      insertRecord.setLong(5, r.occurredAt().toEpochMilli());
      insertRecord.setLong(6, charge.txnId);
      insertRecord.setLong(7, fileId);
      insertRecord.setString(8, r.resource());
      if (r.quantity() == null) {
        insertRecord.setNull(9, Types.INTEGER);
      } else {
        insertRecord.setLong(9, r.quantity());
      }
      if (insertRecord.executeUpdate() == 1) {
        if (fresh) {
          charges.put(walletId, charge);
        }
        charge.cents = Math.addExact(charge.cents, r.costCents());
        charge.records++;
        debited = Math.addExact(debited, r.costCents());
        newestOccurredAtMs = Math.max(newestOccurredAtMs, r.occurredAt().toEpochMilli());
        consumed++;
        return;
      }
      if (fresh) {
        nextTxnId--;
      }
      checkDuplicate(path, r, walletId);
      duplicates++;
    }

    private void checkDuplicate(String path, UsageRecord r, long walletId)
        throws SQLException, BatchContentException {
      PreparedStatement ps = stmt("SELECT c.wallet_id, c.cost_cents, w.user_sid "
          + "FROM consumed_record c JOIN wallet w ON w.wallet_id = c.wallet_id "
          + "WHERE c.node_id = ? AND c.idempotency_key = ?");
      ps.setLong(1, nodeId);
      ps.setString(2, r.idempotencyKey());
      try (ResultSet rs = ps.executeQuery()) {
        if (!rs.next()) {
          throw new SQLException("consumed record " + r.idempotencyKey() + " refused but not found");
        }
        if (rs.getLong(1) != walletId || rs.getLong(2) != r.costCents()) {
          throw new BatchContentException(path, r.line(), "idempotency_key \"" + r.idempotencyKey()
              + "\" was consumed with user_sid \"" + rs.getString(3) + "\" and cost_cents " + rs.getLong(2)
              + "; this record has user_sid \"" + r.userSid() + "\" and cost_cents " + r.costCents());
        }
      }
    }

    private long walletIdFor(String userSid) throws SQLException {
      Long id = walletIds.get(userSid);
      if (id == null) {
        id = walletIdCache.getIfPresent(userSid);
      }
      if (id == null) {
        id = walletId(userSid);
        if (id != null) {
          walletIdCache.put(userSid, id);
        } else {
          id = ensureWallet(userSid, now);
          created.put(userSid, id);
        }
      }
      walletIds.put(userSid, id);
      return id;
    }

    private long fileId(String path) throws SQLException {
      PreparedStatement ins = stmt(
          "INSERT INTO source_file (node_id, path) VALUES (?, ?) ON CONFLICT (node_id, path) DO NOTHING");
      ins.setLong(1, nodeId);
      ins.setString(2, path);
      ins.executeUpdate();
      PreparedStatement ps = stmt("SELECT file_id FROM source_file WHERE node_id = ? AND path = ?");
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
    public NodeApplied commit(NodeCursor cursor, java.util.function.Consumer<CommitStage> probe) {
      synchronized (SqliteLedger.this) {
        try {
          String hash = lastHash();
          for (Map.Entry<Long, Charge> e : charges.entrySet()) {
            Charge c = e.getValue();
            hash = insertTxn(new Txn(c.txnId, e.getKey(), TxnType.CHARGE, -c.cents, now, AGGREGATOR, nodeId,
                cursor.lastCommitSha(), c.records, null), hash);
            addToBalance(e.getKey(), -c.cents, now);
          }
          probe.accept(CommitStage.LEDGER_ROWS_WRITTEN);
          probe.accept(CommitStage.BEFORE_CURSOR);
          PreparedStatement ps = stmt("UPDATE node SET last_commit_sha = ?, tree_id = ?, "
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
          // Built before COMMIT: after it, nothing may fail (not even an allocation) and turn a
          // committed run into a reported failure.
          NodeApplied applied = new NodeApplied(consumed, duplicates, debited,
              consumed == 0 ? null : Instant.ofEpochMilli(newestOccurredAtMs));
          if (dryRun) {
            SqliteTransactions.rollback(conn, null);
          } else {
            SqliteTransactions.commit(conn);
            done = true;
            committed();
          }
          done = true;
          return applied;
        } catch (SQLException e) {
          throw failure("commit the run of node " + node, e);
        } finally {
          close();
        }
      }
    }

    /**
     * What follows a successful COMMIT: only caches, and nothing that may throw, so that a
     * committed run is never reported as failed.
     */
    private void committed() {
      try {
        walletIdCache.putAll(created);
        refreshTrack(node);
      } catch (SQLException | RuntimeException | OutOfMemoryError e) {
        // The caches are only a speed-up: dropped, they are read again from the tables next
        // time (a wallet id cached or not is the committed one either way).
        trackCache = null;
      }
      afterCommit.run();
    }

    @Override
    public void close() {
      synchronized (SqliteLedger.this) {
        if (!done) {
          SqliteTransactions.rollback(conn, null);
        }
        done = true;
      }
    }
  }

  // ---- the run lock

  /**
   * An OS file lock on {@code <database>.run-lock}: released by the OS if the process dies, so a
   * crash never leaves the ledger locked.
   */
  @Override
  public Optional<RunLock> tryLockRun() {
    Path lockFile = runLockFile;
    java.nio.channels.FileChannel channel;
    try {
      channel = java.nio.channels.FileChannel.open(lockFile, java.nio.file.StandardOpenOption.CREATE,
          java.nio.file.StandardOpenOption.WRITE);
    } catch (IOException e) {
      throw new LedgerException("cannot open the run lock " + lockFile + ": " + e.getMessage(), e);
    }
    try {
      java.nio.channels.FileLock lock = channel.tryLock();
      if (lock != null) {
        return Optional.of(() -> {
          try {
            lock.release();
            channel.close();
          } catch (IOException e) {
            throw new LedgerException("cannot release the run lock " + lockFile + ": " + e.getMessage(), e);
          }
        });
      }
    } catch (java.nio.channels.OverlappingFileLockException e) {
      // Another run of this very process holds it.
    } catch (IOException e) {
      closeQuietly(channel);
      throw new LedgerException("cannot take the run lock " + lockFile + ": " + e.getMessage(), e);
    }
    closeQuietly(channel);
    return Optional.empty();
  }

  private static void closeQuietly(java.nio.channels.FileChannel channel) {
    try {
      channel.close();
    } catch (IOException suppressed) {
      // Closing an unlocked channel only releases a descriptor; nothing depends on it.
    }
  }

  @Override
  public synchronized void forEachConsumed(String node, java.util.function.Consumer<Consumed> action) {
    query("read the consumed records of " + node, () -> {
      PreparedStatement ps = stmt("SELECT c.idempotency_key, w.user_sid, c.cost_cents FROM consumed_record c "
          + "JOIN wallet w ON w.wallet_id = c.wallet_id JOIN node n ON n.node_id = c.node_id "
          + "WHERE n.name = ? ORDER BY c.idempotency_key");
      ps.setString(1, node);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          action.accept(new Consumed(rs.getString(1), rs.getString(2), rs.getLong(3)));
        }
      }
      return null;
    });
  }

  @Override
  public synchronized java.util.Set<String> chargeCommits(String node) {
    return query("read the charge commits of " + node, () -> {
      PreparedStatement ps = stmt("SELECT DISTINCT t.source_commit FROM ledger_txn t JOIN node n "
          + "ON n.node_id = t.source_node_id WHERE n.name = ?");
      ps.setString(1, node);
      java.util.Set<String> result = new java.util.HashSet<>();
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          result.add(rs.getString(1));
        }
      }
      return result;
    });
  }

  // ---- one snapshot for many reads

  /**
   * One deferred read transaction around the reads: under WAL it keeps the snapshot of its first
   * read while writers go on, and takes no write lock (see {@link SqliteTransactions}). A
   * checkpoint cannot pass a snapshot still read, so the WAL grows until it ends.
   */
  @Override
  public synchronized <T, E extends Exception> T readSnapshot(SnapshotReads<T, E> reads) throws E {
    query("start a read transaction", () -> {
      SqliteTransactions.beginRead(conn);
      return null;
    });
    try {
      // The snapshot is taken by the first read: take it now, so that it is the ledger as of this call.
      query("start a read transaction", () -> {
        try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery("SELECT 1 FROM run_mark")) {
          return rs.next();
        }
      });
      return reads.run();
    } finally {
      // A read transaction has nothing to keep: ending it cannot lose anything.
      SqliteTransactions.rollback(conn, null);
    }
  }

  // ---- verify

  @Override
  public synchronized List<Violation> verify() {
    return query("verify the ledger", () -> new LedgerVerifier(conn).run());
  }

  // ---- plumbing

  private interface SqlWork<T> {
    T run() throws SQLException;
  }

  private <T> T query(String what, SqlWork<T> work) {
    try {
      return work.run();
    } catch (SQLException e) {
      throw failure(what, e);
    }
  }

  /**
   * Runs work in one write transaction; rolls back on any failure. Returns only once COMMIT has
   * succeeded, and throws only if it did not: nothing that can fail runs after it.
   */
  private <T> T write(String what, SqlWork<T> work) {
    T result;
    try {
      SqliteTransactions.beginImmediate(conn);
      result = work.run();
      SqliteTransactions.commit(conn);
    } catch (SQLException e) {
      SqliteTransactions.rollback(conn, e);
      trackCache = null;
      throw failure(what, e);
    } catch (RuntimeException | Error e) {
      // An Error too (an OutOfMemoryError in an HTTP worker): a transaction left open would keep
      // the write lock, and its uncommitted rows visible to this connection, until the next failure.
      SqliteTransactions.rollback(conn, e);
      trackCache = null;
      throw e;
    }
    afterCommit.run();
    return result;
  }

  /** Runs right after each successful COMMIT; tests use it to take the write lock at that moment. */
  private Runnable afterCommit = () -> {};

  /** For tests: what to run right after each successful COMMIT of this ledger. */
  void afterCommit(Runnable hook) {
    this.afterCommit = hook;
  }

  /**
   * The error of a failed statement, with the statement cache dropped: sqlite-jdbc finalizes a
   * statement whose step failed (a full disk, a read-only file) while it still reports itself
   * open, so reusing it would fail every later write with "statement is not executing", long after
   * the cause is gone.
   */
  private LedgerException failure(String what, SQLException e) {
    for (PreparedStatement ps : statements.values()) {
      try {
        ps.close();
      } catch (SQLException suppressed) {
        // Closing a finalized statement has nothing left to release; e is the error to report.
      }
    }
    statements.clear();
    return new LedgerException("cannot " + what + " in the database " + where + ": " + e.getMessage(), e);
  }
}
