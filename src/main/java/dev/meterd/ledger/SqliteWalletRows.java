package dev.meterd.ledger;

import dev.meterd.policy.BalanceEvents;
import dev.meterd.policy.WalletSettings;
import io.vertx.core.json.JsonObject;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The rows every money write touches, inside a write transaction the caller holds: a wallet
 * opened on first use, its balance moved with overflow checked, and a ledger row chained by hash
 * to the one before it (so that {@code verify} can prove no row was changed after it was written).
 */
final class SqliteWalletRows {

  /** A ledger row as written; {@link TxnHash} hashes exactly these fields. */
  record Txn(long txnId, long walletId, TxnType type, long amountCents, String occurredAt, String initiatedBy,
      Long sourceNodeId, String sourceCommit, Integer sourceRecords, String note) {}

  private final SqliteDb db;
  private final SqliteTopups topups;
  private final SqliteOutbox outbox;

  SqliteWalletRows(SqliteDb db, SqliteOutbox outbox) {
    this.db = db;
    this.topups = new SqliteTopups(db);
    this.outbox = outbox;
  }

  /** Writes a credit's ledger row and moves the balance, opening the wallet if needed. */
  LedgerTxn credit(Instant now, String userSid, TxnType type, long amountCents, String initiatedBy, String note)
      throws SQLException {
    long walletId = ensureWallet(userSid, now.toString());
    long txnId = nextTxnId();
    Txn txn = new Txn(txnId, walletId, type, amountCents, now.toString(), initiatedBy, null, null, null, note);
    insertTxn(txn, lastHash());
    addToBalance(walletId, amountCents, now.toString(), txnId);
    return new LedgerTxn(txnId, userSid, type, amountCents, now, initiatedBy, null, null, null, note);
  }

  static void checkCredit(TxnType type, long amountCents) {
    if (type == TxnType.CHARGE) {
      throw new IllegalArgumentException("credit takes a grant, top-up or refund, not a charge");
    }
    if (amountCents <= 0) {
      throw new IllegalArgumentException("a credit must be > 0 cents, got " + amountCents);
    }
  }

  long ensureWallet(String userSid, String now) throws SQLException {
    Long id = walletId(userSid);
    if (id != null) {
      return id;
    }
    PreparedStatement ps = db.stmt("INSERT INTO wallet (user_sid, balance_cents, created_at, updated_at) "
        + "VALUES (?, 0, ?, ?) RETURNING wallet_id");
    ps.setString(1, userSid);
    ps.setString(2, now);
    ps.setString(3, now);
    try (ResultSet rs = ps.executeQuery()) {
      rs.next();
      return rs.getLong(1);
    }
  }

  /** A wallet's id and policy, or null when it has none. */
  SqliteWalletCache.Entry walletEntry(String userSid) throws SQLException {
    PreparedStatement ps = db.stmt("SELECT wallet_id, " + LedgerSql.SETTINGS_COLUMNS + " FROM wallet WHERE user_sid = ?");
    ps.setString(1, userSid);
    try (ResultSet rs = ps.executeQuery()) {
      return rs.next() ? new SqliteWalletCache.Entry(rs.getLong(1), LedgerSql.settings(rs, 2)) : null;
    }
  }

  Long walletId(String userSid) throws SQLException {
    PreparedStatement ps = db.stmt("SELECT wallet_id FROM wallet WHERE user_sid = ?");
    ps.setString(1, userSid);
    try (ResultSet rs = ps.executeQuery()) {
      return rs.next() ? rs.getLong(1) : null;
    }
  }

  /**
   * Adds to a balance in Java (SQLite turns an overflowing {@code balance_cents + ?} into a REAL,
   * which the schema's typeof check refuses with a message that names no wallet), then writes what
   * the move causes: a top-up request when it leaves the balance below the auto top-up threshold
   * and none is open (with its {@code topup.requested} event); the open request lifted when a credit
   * brings the balance back to it; {@code wallet.depleted} when the balance goes below zero.
   *
   * @param txnId the ledger transaction that moves it
   * @throws BalanceOutOfRangeException the sum leaves the 64-bit range; the caller rolls back
   */
  void addToBalance(long walletId, long deltaCents, String now, long txnId) throws SQLException {
    addToBalances(List.of(new BalanceMove(walletId, deltaCents, txnId)), now);
  }

  /** One wallet's move in {@link #addToBalances}: {@code deltaCents} by the ledger transaction {@code txnId}. */
  record BalanceMove(long walletId, long deltaCents, long txnId) {}

  private static final MultiRowSql UPDATE_BALANCES = MultiRowSql.rows("UPDATE wallet SET balance_cents = v.column2, "
      + "updated_at = ? FROM (VALUES", 2, ") AS v WHERE wallet.wallet_id = v.column1", 100);

  /**
   * {@link #addToBalance} for several wallets at once, each at most once, in one statement per
   * hundred: a node's run moves the balance of every wallet it charged, and one UPDATE each was a
   * fifth of a run with shared users. Every sum is checked before anything is written; what the
   * moves cause is written after, wallet by wallet in the order given.
   */
  void addToBalances(List<BalanceMove> moves, String now) throws SQLException {
    List<BalanceRow> before = new ArrayList<>(moves.size());
    List<BalanceRow> after = new ArrayList<>(moves.size());
    Set<Long> seen = new HashSet<>();
    for (BalanceMove move : moves) {
      if (!seen.add(move.walletId())) {
        throw new IllegalArgumentException("wallet " + move.walletId() + " moved twice in one call");
      }
      BalanceRow row = balanceRow(move.walletId());
      long updated;
      try {
        updated = Math.addExact(row.balanceCents(), move.deltaCents());
      } catch (ArithmeticException e) {
        throw new BalanceOutOfRangeException(row.userSid(), row.balanceCents(), move.deltaCents());
      }
      before.add(row);
      after.add(new BalanceRow(row.walletId(), row.userSid(), updated, row.settings()));
    }
    UPDATE_BALANCES.writeAll(db, after, "wallet balances", (ps, chunk) -> {
      int p = 0;
      ps.setString(++p, now);
      for (BalanceRow row : chunk) {
        ps.setLong(++p, row.walletId());
        ps.setLong(++p, row.balanceCents());
      }
    });
    for (BalanceRow row : after) {
      db.remember(row.key(), row);
    }
    for (int i = 0; i < moves.size(); i++) {
      balanceMoved(moves.get(i), before.get(i).balanceCents(), after.get(i), now);
    }
  }

  /** What a balance move causes: a top-up lifted or requested, {@code wallet.depleted}. */
  private void balanceMoved(BalanceMove move, long balance, BalanceRow row, String now) throws SQLException {
    long walletId = move.walletId();
    long updated = row.balanceCents();
    WalletSettings settings = row.settings();
    if (BalanceEvents.topupLifted(move.deltaCents(), updated, settings)) {
      topups.lift(walletId, now, move.txnId());
    }
    if (BalanceEvents.topupDue(updated, settings) && topups.request(walletId, now, settings, updated)) {
      outbox.append(EventType.TOPUP_REQUESTED, new JsonObject().put("user_sid", row.userSid())
          .put("amount_cents", settings.autoTopupAmountCents()).put("balance_cents", updated)
          .put("threshold_cents", settings.autoTopupThresholdCents()).put("requested_at", now));
    }
    if (BalanceEvents.depleted(balance, updated)) {
      outbox.append(EventType.WALLET_DEPLETED, new JsonObject().put("user_sid", row.userSid())
          .put("balance_cents", updated).put("txn_id", move.txnId()).put("depleted_at", now));
    }
  }

  /** A wallet's row as a balance move needs it; within a group of node runs, read once. */
  private record BalanceRow(long walletId, String userSid, long balanceCents, WalletSettings settings) {
    Object key() {
      return key(walletId);
    }

    static Object key(long walletId) {
      return new Key(walletId);
    }

    /** Its key among what the group remembers. */
    private record Key(long walletId) {}
  }

  private BalanceRow balanceRow(long walletId) throws SQLException {
    BalanceRow known = db.remembered(BalanceRow.key(walletId));
    if (known != null) {
      return known;
    }
    PreparedStatement read = db.stmt("SELECT user_sid, balance_cents, " + LedgerSql.SETTINGS_COLUMNS
        + " FROM wallet WHERE wallet_id = ?");
    read.setLong(1, walletId);
    try (ResultSet rs = read.executeQuery()) {
      rs.next();
      return new BalanceRow(walletId, rs.getString(1), rs.getLong(2), LedgerSql.settings(rs, 3));
    }
  }

  /**
   * The next transaction id. Allocated inside the write transaction (the lock is held, so nobody
   * else allocates), which lets a node's records point at their charge before its row is written.
   */
  long nextTxnId() throws SQLException {
    try (ResultSet rs = db.stmt("SELECT coalesce(max(txn_id), 0) + 1 FROM ledger_txn").executeQuery()) {
      rs.next();
      return rs.getLong(1);
    }
  }

  String lastHash() throws SQLException {
    try (ResultSet rs = db.stmt("SELECT row_hash FROM ledger_txn ORDER BY txn_id DESC LIMIT 1").executeQuery()) {
      return rs.next() ? rs.getString(1) : TxnHash.GENESIS;
    }
  }

  /** Inserts a ledger row chained to {@code previousHash}; returns its own hash. */
  String insertTxn(Txn t, String previousHash) throws SQLException {
    return insertTxns(List.of(t), previousHash);
  }

  private static final MultiRowSql INSERT_TXNS = MultiRowSql.insert("INSERT INTO ledger_txn (txn_id, "
      + "wallet_id, type, amount_cents, occurred_at, initiated_by, source_node_id, source_commit, source_records, "
      + "note, row_hash) VALUES", 11, 50);

  /** Inserts ledger rows in order, each chained to the one before ({@code previousHash} first); returns the last hash. */
  String insertTxns(List<Txn> txns, String previousHash) throws SQLException {
    db.wroteTxns();
    String hash = previousHash;
    for (int from = 0; from < txns.size(); from += INSERT_TXNS.maxRows) {
      List<Txn> chunk = txns.subList(from, Math.min(txns.size(), from + INSERT_TXNS.maxRows));
      PreparedStatement ps = db.stmt(INSERT_TXNS.sql(chunk.size()));
      int p = 0;
      for (Txn t : chunk) {
        hash = TxnHash.of(hash, t);
        ps.setLong(++p, t.txnId());
        ps.setLong(++p, t.walletId());
        ps.setString(++p, t.type().sqlName());
        ps.setLong(++p, t.amountCents());
        ps.setString(++p, t.occurredAt());
        ps.setString(++p, t.initiatedBy());
        SqliteDb.setNullableLong(ps, ++p, t.sourceNodeId());
        ps.setString(++p, t.sourceCommit());
        SqliteDb.setNullableInt(ps, ++p, t.sourceRecords());
        ps.setString(++p, t.note());
        ps.setString(++p, hash);
      }
      ps.executeUpdate();
    }
    return hash;
  }
}
