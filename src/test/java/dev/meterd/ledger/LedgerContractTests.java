package dev.meterd.ledger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meterd.batch.BatchContentException;
import dev.meterd.batch.UsageRecord;
import dev.meterd.testing.MutableClock;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The ledger's behaviour, the same on every engine: each subclass runs these tests on a real
 * database of its own ({@link SqliteLedgerIT} on files, {@link PostgresLedgerIT} on a throwaway
 * PostgreSQL database), and adds what only its engine has.
 */
abstract class LedgerContractTests {

  @TempDir
  Path tmp;

  /** The test's database, new for each test. */
  TestDatabase db;

  /** The engine the subclass runs the contract on. */
  abstract LedgerEngine engine();

  @BeforeEach
  void freshDatabase() {
    db = freshDatabase(tmp);
  }

  /** The test's database in {@code folder}: the engine's, unless a subclass shapes it. */
  TestDatabase freshDatabase(Path folder) {
    return engine().freshDatabase(folder);
  }

  /** A new ledger, or the one the test opened before (the same database), reopened. */
  SqliteLedger open() {
    return db.open(clock);
  }

  /** As {@link #open()}, with a write waiting at most {@code lockWaitMs} for the write lock. */
  SqliteLedger openWaitingAtMost(int lockWaitMs) {
    return db.open(clock, lockWaitMs);
  }

  /** A plain connection to the test's database, beside the ledger's own. */
  Connection jdbc() throws SQLException {
    return db.jdbc();
  }

  /** See {@link TestDatabase#takeWriteLock}. */
  void takeWriteLock(Statement st) throws SQLException {
    db.takeWriteLock(st);
  }

  void releaseWriteLock(Statement st) throws SQLException {
    db.releaseWriteLock(st);
  }

  /** See {@link TestDatabase#refuseInserts}. */
  void refuseInserts(Statement st, String name, String table, String when) throws SQLException {
    db.refuseInserts(st, name, table, when);
  }

  void allowInserts(Statement st, String name, String table) throws SQLException {
    db.allowInserts(st, name, table);
  }

  String checkRefusal() {
    return db.checkRefusal();
  }

  void allowTampering(Statement st, String trigger) throws SQLException {
    db.allowTampering(st, trigger);
  }

  String refuseWallet(Statement st, String userSid) throws SQLException {
    return db.refuseWallet(st, userSid);
  }

  final MutableClock clock = new MutableClock(Instant.parse("2026-11-21T10:05:00Z"));

  static UsageRecord rec(String key, String user, long cost) {
    return new UsageRecord(key, user, cost, Instant.parse("2026-11-21T10:00:00Z"), null, null, 1);
  }

  void consume(SqliteLedger ledger, String node, UsageRecord... records) throws BatchContentException {
    try (NodeStore.NodeWrite w = ledger.nodeStore().beginNode(node, false)) {
      w.add("nodes/" + node + "/usage_2026-11-21-10.toml", List.of(records));
      w.commit(new NodeCursor("c0ffee", "7ree", null));
    }
  }

  @Test
  void refusesToUpdateOrDeleteALedgerRow() throws Exception {
    try (SqliteLedger ledger = open()) {
      ledger.walletStore().credit("u1", TxnType.GRANT, 100, "alice", null);
      consume(ledger, "A", rec("k", "u1", 5));
    }
    try (Connection c = jdbc(); Statement st = c.createStatement()) {
      assertThatThrownBy(() -> st.execute("UPDATE ledger_txn SET amount_cents = 1"))
          .hasMessageContaining("ledger_txn is append-only");
      assertThatThrownBy(() -> st.execute("DELETE FROM ledger_txn"))
          .hasMessageContaining("ledger_txn is append-only");
      assertThatThrownBy(() -> st.execute("UPDATE consumed_newest SET cost_cents = 0"))
          .hasMessageContaining("consumed_record is append-only");
      assertThatThrownBy(() -> st.execute("INSERT INTO ledger_txn (txn_id, wallet_id, type, amount_cents, "
          + "occurred_at, initiated_by, row_hash) VALUES (99, 1, 'grant', -5, 'x', 'me', 'h')"))
          .hasMessageContaining(checkRefusal());
    }
  }

  /**
   * sqlite-jdbc's own commit() runs COMMIT and then a new BEGIN IMMEDIATE, which fails if another
   * writer takes the lock in between: the caller then saw an error for committed money. Here the
   * other writer takes the lock right after each COMMIT; both writes must report their success.
   */
  @Test
  void aWriteIsReportedCommittedWhenAnotherWriterTakesTheLockRightAfterItsCommit() throws Exception {
    try (SqliteLedger ledger = open();
        Connection other = jdbc();
        Statement st = other.createStatement()) {
      List<String> taken = new java.util.ArrayList<>();
      ledger.afterCommit(() -> {
        try {
          takeWriteLock(st);
          taken.add("lock");
        } catch (SQLException e) {
          throw new AssertionError("the ledger still held the write lock after COMMIT: " + e.getMessage(), e);
        }
      });

      LedgerTxn grant = ledger.walletStore().credit("u1", TxnType.GRANT, 100, "alice", null);
      assertThat(grant.amountCents()).isEqualTo(100);
      releaseWriteLock(st);
      NodeApplied applied;
      try (NodeStore.NodeWrite w = ledger.nodeStore().beginNode("A", false)) {
        w.add("nodes/A/usage_2026-11-21-10.toml", List.of(rec("k", "u1", 5)));
        applied = w.commit(new NodeCursor("c0ffee", "7ree", null));
      }
      assertThat(applied.debitedCents()).isEqualTo(5);
      assertThat(taken).containsExactly("lock", "lock");
      releaseWriteLock(st);
      assertThat(ledger.reads().wallet("u1").orElseThrow().balanceCents()).isEqualTo(95);
      assertThat(ledger.reads().node("A").orElseThrow().status()).isEqualTo(NodeState.Status.OK);
      assertThat(ledger.audit().verify()).isEmpty();
    }
  }

  @Test
  void aResumeOrATransientHaltClearsTheRunMarkAndRefusesAMarkReadBeforeIt() throws Exception {
    try (SqliteLedger ledger = open()) {
      NodeStore.RunMark start = ledger.nodeStore().runMark();
      assertThat(ledger.nodeStore().setRunMark(new NodeStore.RunMark("t1", 2, start.generation(), "t1"))).isTrue();
      ledger.nodeStore().halt("X", new NodeError(NodeError.Kind.CONTENT, "nodes/X/a.toml", 1, "bad"), "tree");
      assertThat(ledger.nodeStore().runMark()).isEqualTo(new NodeStore.RunMark("t1", 2, start.generation(), "t1"));

      ledger.nodeStore().halt("Y", new NodeError(NodeError.Kind.TRANSIENT, null, null, "busy"), null);
      assertThat(ledger.nodeStore().runMark()).isEqualTo(new NodeStore.RunMark(null, 2, start.generation() + 1, "t1"));
      assertThat(ledger.nodeStore().setRunMark(new NodeStore.RunMark("t1b", 2, start.generation(), "t1b"))).isFalse();
      assertThat(ledger.nodeStore().runMark()).isEqualTo(new NodeStore.RunMark(null, 2, start.generation() + 1, "t1b"));

      assertThat(ledger.nodeStore().resume("X")).isPresent();
      assertThat(ledger.nodeStore().runMark()).isEqualTo(new NodeStore.RunMark(null, 2, start.generation() + 2, "t1b"));
      assertThat(ledger.nodeStore().setRunMark(new NodeStore.RunMark("t2", 3, start.generation() + 2, "t2"))).isTrue();
      assertThat(ledger.nodeStore().runMark().fullTip()).isEqualTo("t2");
    }
  }

  /** An Error (an OutOfMemoryError in an HTTP worker) mid-write must not leave the lock held. */
  @Test
  void anErrorInsideAWriteRollsItBackAndReleasesTheLock() throws Exception {
    try (SqliteLedger ledger = open();
        Connection other = jdbc();
        Statement st = other.createStatement()) {
      Idempotent.Claim claim = new Idempotent.Claim("k-1", "f", "alice");
      assertThatThrownBy(() -> ledger.walletStore().creditOnce(claim, "u1", TxnType.GRANT, 100, null, txn -> {
        throw new OutOfMemoryError("simulated");
      })).isInstanceOf(OutOfMemoryError.class);
      takeWriteLock(st);
      releaseWriteLock(st);
      assertThat(ledger.reads().wallet("u1")).isEmpty();
      assertThat(ledger.walletStore().creditOnce(claim, "u1", TxnType.GRANT, 100, null,
          txn -> new Idempotent.Response(200, "{}"))).isInstanceOf(Idempotent.Applied.class);
      assertThat(ledger.reads().wallet("u1").orElseThrow().balanceCents()).isEqualTo(100);
    }
  }

  @Test
  void verifyFindsATransactionMissingFromItsWalletsListOrListedUnderAnother() throws Exception {
    try (SqliteLedger ledger = open()) {
      consume(ledger, "A", rec("k1", "u1", 5));
      ledger.walletStore().credit("u2", TxnType.GRANT, 50, "alice", null);
      ledger.walletStore().credit("u2", TxnType.GRANT, 7, "alice", null);
      assertThat(ledger.reads().transactions("u2", 10)).extracting(LedgerTxn::txnId).containsExactly(3L, 2L);
      assertThat(ledger.audit().verify()).isEmpty();
    }
    try (Connection c = jdbc(); Statement st = c.createStatement()) {
      allowTampering(st, "wallet_txn_no_delete");
      st.execute("DELETE FROM wallet_txn WHERE txn_id = 2");
      st.execute("INSERT INTO wallet_txn (wallet_id, txn_id) VALUES (1, 3), (2, 99)");
    }
    try (SqliteLedger ledger = open()) {
      assertThat(ledger.audit().verify()).extracting(Violation::rule, Violation::message).containsExactly(
          org.assertj.core.groups.Tuple.tuple("wallet_txn", "transaction 2 of wallet u2 is not listed under it"),
          org.assertj.core.groups.Tuple.tuple("wallet_txn", "transaction 3 is listed under wallet u1 but belongs "
              + "to wallet u2"),
          org.assertj.core.groups.Tuple.tuple("wallet_txn", "transaction 99 is listed under wallet u2 but does "
              + "not exist"));
      assertThat(ledger.reads().transactions("u2", 10)).extracting(LedgerTxn::txnId).containsExactly(3L);
    }
  }

  /**
   * A node's run keeps the connection's transaction open between its calls: a grant from another
   * thread on the same ledger would end it (its failed BEGIN rolls back the node's rows, whose
   * later inserts would then commit one by one, uncharged). It is refused, and the run commits whole.
   */
  @Test
  void anotherThreadsWriteDuringANodesRunIsRefusedAndTheRunCommitsWhole() throws Exception {
    try (SqliteLedger ledger = open()) {
      try (NodeStore.NodeWrite w = ledger.nodeStore().beginNode("A", false)) {
        w.add("nodes/A/usage_2026-11-21-10.toml", List.of(rec("k1", "u1", 5)));
        java.util.concurrent.CompletableFuture<Object> grant = java.util.concurrent.CompletableFuture.supplyAsync(
            () -> ledger.walletStore().credit("u2", TxnType.GRANT, 50, "alice", null));
        assertThatThrownBy(grant::join).hasCauseInstanceOf(IllegalStateException.class)
            .hasMessageContaining("cannot credit the wallet of u2: this connection is inside the run of a node on "
                + "thread " + Thread.currentThread().getName());
        w.add("nodes/A/usage_2026-11-21-10.toml", List.of(rec("k2", "u1", 6)));
        w.commit(new NodeCursor("c0ffee", "7ree", null));
      }
      assertThat(ledger.reads().wallet("u1").orElseThrow().balanceCents()).isEqualTo(-11);
      assertThat(ledger.reads().wallet("u2")).isEmpty();
      // Once the run is over, the other thread writes.
      java.util.concurrent.CompletableFuture.supplyAsync(
          () -> ledger.walletStore().credit("u2", TxnType.GRANT, 50, "alice", null)).join();
      assertThat(ledger.reads().wallet("u2").orElseThrow().balanceCents()).isEqualTo(50);
      assertThat(ledger.audit().verify()).isEmpty();
    }
  }

  /**
   * A write on the run's own thread, while its node's run holds the transaction open, is refused
   * before it touches the connection: SQLite's BEGIN would fail and its ROLLBACK undo the group,
   * and PostgreSQL's would commit the group's open transaction halfway.
   */
  @Test
  void aWriteOnTheRunsOwnThreadDuringANodesRunIsRefusedAndTheRunCommitsWhole() throws Exception {
    try (SqliteLedger ledger = open()) {
      try (NodeStore.NodeGroup group = ledger.nodeStore().beginGroup(false)) {
        try (NodeStore.NodeWrite w = group.beginNode("A")) {
          w.add("nodes/A/usage_2026-11-21-10.toml", List.of(rec("k1", "u1", 5)));
          assertThatThrownBy(() -> ledger.walletStore().credit("u2", TxnType.GRANT, 50, "alice", null))
              .isInstanceOf(IllegalStateException.class)
              .hasMessage("cannot credit the wallet of u2: this connection is inside the run of a node on thread "
                  + Thread.currentThread().getName() + "; open a ledger of its own for writes beside a run");
          w.add("nodes/A/usage_2026-11-21-10.toml", List.of(rec("k2", "u1", 6)));
          w.commit(new NodeCursor("c0ffee", "7ree", null));
        }
        group.commit();
      }
      assertThat(ledger.reads().wallet("u1").orElseThrow().balanceCents()).isEqualTo(-11);
      assertThat(ledger.reads().wallet("u2")).isEmpty();
      assertThat(ledger.reads().node("A").orElseThrow().recordsConsumedTotal()).isEqualTo(2);
      assertThat(ledger.audit().verify()).isEmpty();
    }
  }

  /**
   * A second group on a ledger whose group is open is refused before it touches the connection:
   * its failed BEGIN would otherwise have rolled the open group back, which then went on unguarded.
   */
  @Test
  void aSecondGroupWhileOneIsOpenIsRefusedAndTheOpenOneCommitsWhole() throws Exception {
    try (SqliteLedger ledger = open()) {
      try (NodeStore.NodeGroup group = ledger.nodeStore().beginGroup(false)) {
        try (NodeStore.NodeWrite w = group.beginNode("A")) {
          w.add("nodes/A/usage_2026-11-21-10.toml", List.of(rec("k1", "u1", 5)));
          w.commit(new NodeCursor("c0ffee", "7ree", null));
        }
        assertThatThrownBy(() -> ledger.nodeStore().beginGroup(false))
            .isInstanceOf(IllegalStateException.class)
            .hasMessage("cannot start a group of node runs: this connection is inside the run of a node on thread "
                + Thread.currentThread().getName() + "; open a ledger of its own for writes beside a run");
        try (NodeStore.NodeWrite w = group.beginNode("B")) {
          w.add("nodes/B/usage_2026-11-21-10.toml", List.of(rec("k1", "u1", 6)));
          w.commit(new NodeCursor("c0ffee", "7reb", null));
        }
        group.commit();
      }
      assertThat(ledger.reads().wallet("u1").orElseThrow().balanceCents()).isEqualTo(-11);
      assertThat(ledger.reads().node("A").orElseThrow().recordsConsumedTotal()).isEqualTo(1);
      assertThat(ledger.reads().node("B").orElseThrow().recordsConsumedTotal()).isEqualTo(1);
      assertThat(ledger.audit().verify()).isEmpty();
    }
  }

  /** Another connection holds the write lock: a write waits for it, then fails, and writes nothing. */
  @Test
  void aWriteWaitsForAnotherWritersLockThenFailsWritingNothing() throws Exception {
    try (SqliteLedger ledger = openWaitingAtMost(300);
        Connection other = jdbc();
        Statement st = other.createStatement()) {
      ledger.walletStore().credit("u1", TxnType.GRANT, 100, "alice", null);
      takeWriteLock(st);
      assertThatThrownBy(() -> ledger.walletStore().credit("u1", TxnType.GRANT, 7, "alice", null))
          .isInstanceOf(LedgerException.class).hasMessageStartingWith("cannot credit the wallet of u1 in the database ");
      releaseWriteLock(st);
      assertThat(ledger.reads().wallet("u1").orElseThrow().balanceCents()).isEqualTo(100);
      ledger.walletStore().credit("u1", TxnType.GRANT, 7, "alice", null);
      assertThat(ledger.reads().wallet("u1").orElseThrow().balanceCents()).isEqualTo(107);
      assertThat(ledger.audit().verify()).isEmpty();
    }
  }

  /** A halted node's line, tampered past 32 bits, is refused as read rather than read as its low bits. */
  @Test
  void anIntegerColumnOutOfRangeIsRefusedNotTruncated() throws Exception {
    try (SqliteLedger ledger = open()) {
      ledger.nodeStore().halt("X", new NodeError(NodeError.Kind.CONTENT, "nodes/X/a.toml", 1, "bad"), "tree");
      try (Connection c = jdbc(); Statement st = c.createStatement()) {
        st.execute("UPDATE node SET error_line = 1099511627776 WHERE name = 'X'");
      }
      assertThatThrownBy(() -> ledger.reads().node("X")).isInstanceOf(LedgerException.class)
          .hasMessageEndingWith("column error_line holds 1099511627776, out of the range of a 32-bit integer");
    }
  }

  @Test
  void reopeningAnUpToDateDatabaseChangesNothing() throws Exception {
    try (SqliteLedger ledger = open()) {
      ledger.walletStore().credit("u1", TxnType.GRANT, 100, "alice", "first");
    }
    try (SqliteLedger ledger = open()) {
      assertThat(ledger.reads().wallet("u1")).get().extracting(Wallet::balanceCents).isEqualTo(100L);
      assertThat(ledger.audit().verify()).isEmpty();
    }
  }

  @Test
  void aChargeGroupsOneWalletsRecordsAndEachRecordPointsAtIt() throws Exception {
    try (SqliteLedger ledger = open()) {
      consume(ledger, "A", rec("k1", "u1", 5), rec("k2", "u2", 7), rec("k3", "u1", 0));
      List<LedgerTxn> u1 = ledger.reads().transactions("u1", 10);
      assertThat(u1).singleElement().satisfies(t -> {
        assertThat(t.type()).isEqualTo(TxnType.CHARGE);
        assertThat(t.amountCents()).isEqualTo(-5);
        assertThat(t.sourceRecords()).isEqualTo(2);
        assertThat(t.sourceNode()).isEqualTo("A");
        assertThat(t.sourceCommit()).isEqualTo("c0ffee");
        assertThat(t.initiatedBy()).isEqualTo("aggregator");
      });
      assertThat(ledger.reads().transactions("u2", 10)).extracting(LedgerTxn::txnId).containsExactly(2L);
      assertThat(ledger.audit().verify()).isEmpty();
    }
  }

  @Test
  void aRecordCostingNothingIsStillAccountedForByAChargeOfZero() throws Exception {
    try (SqliteLedger ledger = open()) {
      consume(ledger, "A", rec("free", "u1", 0));
      assertThat(ledger.reads().transactions("u1", 10)).singleElement()
          .satisfies(t -> assertThat(t.amountCents()).isZero());
      assertThat(ledger.reads().wallet("u1").orElseThrow().depleted()).isFalse();
      assertThat(ledger.audit().verify()).isEmpty();
    }
  }

  @Test
  void duplicatesLeaveNoGapInTransactionIds() throws Exception {
    try (SqliteLedger ledger = open()) {
      consume(ledger, "A", rec("k1", "u1", 5));
      consume(ledger, "A", rec("k1", "u1", 5), rec("k2", "u2", 1), rec("k3", "u1", 2));
      assertThat(ledger.reads().transactions("u2", 10)).extracting(LedgerTxn::txnId).containsExactly(2L);
      assertThat(ledger.reads().transactions("u1", 10)).extracting(LedgerTxn::txnId).containsExactly(3L, 1L);
      assertThat(ledger.audit().verify()).isEmpty();
    }
  }

  @Test
  void aConflictRollsBackEverythingOfTheNodesRun() throws Exception {
    try (SqliteLedger ledger = open()) {
      consume(ledger, "A", rec("k1", "u1", 5));
      assertThatThrownBy(() -> consume(ledger, "A", rec("k2", "u3", 1), rec("k1", "u2", 5)))
          .isInstanceOf(BatchContentException.class)
          .hasMessage("nodes/A/usage_2026-11-21-10.toml:1: idempotency_key \"k1\" was consumed with user_sid \"u1\" "
              + "and cost_cents 5; this record has user_sid \"u2\" and cost_cents 5");
      assertThat(ledger.reads().wallet("u3")).isEmpty();
      assertThat(ledger.reads().wallet("u2")).isEmpty();
      assertThat(ledger.reads().node("A").orElseThrow().recordsConsumedTotal()).isEqualTo(1);
      assertThat(ledger.audit().verify()).isEmpty();
      consume(ledger, "A", rec("k2", "u3", 1));
      assertThat(ledger.reads().wallet("u3").orElseThrow().balanceCents()).isEqualTo(-1);
    }
  }

  /** The table of the consumed-record index that holds {@code key}: its one level, unless a subclass has several. */
  String levelHolding(Statement st, String key) throws SQLException {
    return "consumed_newest";
  }

  /** What verify finds besides when a record is deleted from where {@link #levelHolding} says. */
  List<String> rulesOfARecordDeletedFromASegment() {
    return List.of();
  }

  @Test
  void verifyFindsEachBrokenInvariant() throws Exception {
    try (SqliteLedger ledger = open()) {
      consume(ledger, "A", rec("k1", "u1", 5), rec("k2", "u1", 6));
      ledger.walletStore().credit("u2", TxnType.GRANT, 50, "alice", null);
    }
    try (Connection c = jdbc(); Statement st = c.createStatement()) {
      String level = levelHolding(st, "k2");
      allowTampering(st, level + "_no_delete");
      st.execute("DELETE FROM " + level + " WHERE idempotency_key = 'k2'");
      st.execute("UPDATE wallet SET balance_cents = 49 WHERE user_sid = 'u2'");
      st.execute("INSERT INTO consumed_newest (node_id, idempotency_key, wallet_id, cost_cents, occurred_at_ms, "
          + "txn_id, file_id) VALUES (1, 'orphan', 1, 3, 0, 42, 1)");
      st.execute("UPDATE node SET records_consumed_total = 5");
    }
    try (SqliteLedger ledger = open()) {
      assertThat(ledger.audit().verify()).extracting(Violation::rule)
          .containsExactlyElementsOf(java.util.stream.Stream.concat(java.util.stream.Stream.of("wallet_balance",
              "record_charge", "charge_amount", "daily_spend", "daily_spend", "node_total"),
              rulesOfARecordDeletedFromASegment().stream()).toList());
      // The deleted record's day is short of its charge; the orphan's day (1970-01-01) has no counter.
      assertThat(ledger.audit().verify()).filteredOn(v -> v.rule().equals("daily_spend")).extracting(Violation::message)
          .containsExactly("wallet u1 counts 0 cents charged and 0 waived on 1970-01-01, but its records of that day "
              + "were charged 3 and waived 0", "wallet u1 counts 11 cents charged and 0 waived on 2026-11-21, but its "
              + "records of that day were charged 5 and waived 0");
      assertThat(ledger.audit().verify().get(0).message()).isEqualTo("wallet u2 has balance 49 but its transactions sum to 50");
    }
  }

  @Test
  void aDryRunRollsBackButCounts() throws Exception {
    try (SqliteLedger ledger = open()) {
      NodeApplied applied;
      try (NodeStore.NodeWrite w = ledger.nodeStore().beginNode("A", true)) {
        w.add("nodes/A/usage_2026-11-21-10.toml", List.of(rec("k1", "u1", 5), rec("k1", "u1", 5)));
        applied = w.commit(new NodeCursor("c", "t", null));
      }
      assertThat(applied).isEqualTo(new NodeApplied(1, 1, 5, Instant.parse("2026-11-21T10:00:00Z")));
      assertThat(ledger.reads().wallets()).isEmpty();
      assertThat(ledger.nodeStore().tracks()).isEmpty();
    }
  }

  @Test
  void tracksSeeWritesOfAnotherConnection() throws Exception {
    try (SqliteLedger first = open(); SqliteLedger second = open()) {
      assertThat(first.nodeStore().tracks()).isEmpty();
      consume(second, "A", rec("k1", "u1", 5));
      assertThat(first.nodeStore().tracks()).containsKey("A");
      second.nodeStore().halt("A", new NodeError(NodeError.Kind.CONTENT, "f", 3, "bad"), "tree");
      assertThat(first.nodeStore().tracks().get("A").haltKind()).isEqualTo(NodeError.Kind.CONTENT);
      assertThat(first.nodeStore().tracks().get("A").haltedTreeId()).isEqualTo("tree");
    }
  }

  // wallet_txn (V009): every ledger row a commit keeps is listed once, under its wallet (cases a review found).

  static void run(NodeStore.NodeGroup group, String node, UsageRecord... records) throws Exception {
    try (NodeStore.NodeWrite w = group.beginNode(node)) {
      w.add("nodes/" + node + "/usage_2026-11-21-10.toml", List.of(records));
      w.commit(new NodeCursor("c0ffee", "7ree", null));
    }
  }

  /**
   * A node's run moves the balance and the day's counter of every wallet it charged, a hundred to
   * a statement: 250 wallets take three, each moved once by its own amount and its going below
   * zero told once, and a second run adds to what the first wrote. A sum that would overflow, past
   * the last statement's wallets, moves none of them.
   */
  @Test
  void aRunChargingMoreWalletsThanOneStatementMovesEachBalanceAndDayOnce() throws Exception {
    try (SqliteLedger ledger = open()) {
      consume(ledger, "Z", rec("z1", "big", Long.MAX_VALUE));
      consume(ledger, "A", chargingEachOf(250, "a", i -> i + 1));
      consume(ledger, "B", chargingEachOf(250, "b", i -> 1000));
      for (int i = 0; i < 250; i++) {
        assertThat(ledger.reads().wallet("u" + i).orElseThrow().balanceCents()).as("u%d", i).isEqualTo(-(i + 1) - 1000);
      }
      try (Connection conn = jdbc();
          PreparedStatement ps = conn.prepareStatement("SELECT w.user_sid, d.charged_cents FROM daily_spend d "
              + "JOIN wallet w ON w.wallet_id = d.wallet_id WHERE d.day = '2026-11-21'");
          ResultSet rs = ps.executeQuery()) {
        java.util.Map<String, Long> days = new java.util.HashMap<>();
        while (rs.next()) {
          days.put(rs.getString(1), rs.getLong(2));
        }
        assertThat(days).hasSize(251).containsEntry("u0", 1001L).containsEntry("u249", 1250L)
            .containsEntry("big", Long.MAX_VALUE);
      }
      UsageRecord[] overflowing = java.util.Arrays.copyOf(chargingEachOf(250, "c", i -> 7), 251);
      overflowing[250] = rec("c-big", "big", 2);
      assertThatThrownBy(() -> consume(ledger, "C", overflowing)).isInstanceOf(BalanceOutOfRangeException.class);
      assertThat(ledger.reads().wallet("u0").orElseThrow().balanceCents()).isEqualTo(-1001);
      assertThat(ledger.reads().wallet("u249").orElseThrow().balanceCents()).isEqualTo(-1250);
      assertThat(ledger.reads().wallet("big").orElseThrow().balanceCents()).isEqualTo(-Long.MAX_VALUE);
      // Each wallet went below zero once, in run A, in the order it was charged: its event names
      // its own charge (ids 2 to 251, after big's) and balance; run B and the refused run add none.
      List<String> expected = new java.util.ArrayList<>(List.of("big 1 " + -Long.MAX_VALUE));
      for (int i = 0; i < 250; i++) {
        expected.add("u" + i + " " + (i + 2) + " " + -(i + 1));
      }
      try (Connection conn = jdbc();
          PreparedStatement ps = conn.prepareStatement("SELECT type, body FROM outbox_event ORDER BY event_seq");
          ResultSet rs = ps.executeQuery()) {
        List<String> depleted = new java.util.ArrayList<>();
        while (rs.next()) {
          assertThat(rs.getString(1)).isEqualTo("wallet.depleted");
          io.vertx.core.json.JsonObject data = new io.vertx.core.json.JsonObject(rs.getString(2)).getJsonObject("data");
          depleted.add(data.getString("user_sid") + " " + data.getLong("txn_id") + " " + data.getLong("balance_cents"));
        }
        assertThat(depleted).containsExactlyElementsOf(expected);
      }
      assertThat(ledger.audit().verify()).isEmpty();
    }
  }

  /** One record for each of the users {@code u0} to {@code u<count-1>}, costing {@code cost.applyAsLong(i)}. */
  static UsageRecord[] chargingEachOf(int count, String keyPrefix, java.util.function.IntToLongFunction cost) {
    UsageRecord[] records = new UsageRecord[count];
    for (int i = 0; i < count; i++) {
      records[i] = rec(keyPrefix + i, "u" + i, cost.applyAsLong(i));
    }
    return records;
  }

  static List<Long> ids(SqliteLedger ledger, String user) {
    return ledger.reads().transactions(user, 10).stream().map(LedgerTxn::txnId).toList();
  }

  /**
   * The first node of a group writes its charge rows and then fails (its balance would overflow):
   * its savepoint is rolled back while the lowest id stays recorded; the next nodes reuse its ids.
   */
  @Test
  void aNodeRolledBackToItsSavepointAfterItsLedgerRowsLeavesTheOthersListedOnce() throws Exception {
    try (SqliteLedger ledger = open()) {
      consume(ledger, "Z", rec("z1", "big", Long.MAX_VALUE));
      try (NodeStore.NodeGroup group = ledger.nodeStore().beginGroup(false)) {
        assertThatThrownBy(() -> run(group, "B", rec("b1", "u9", 4), rec("b2", "big", 2)))
            .isInstanceOf(BalanceOutOfRangeException.class);
        run(group, "A", rec("a1", "u1", 5), rec("a2", "u2", 7));
        run(group, "C", rec("c1", "u2", 1), rec("c2", "u1", 2));
        group.commit();
      }
      assertThat(ids(ledger, "u1")).containsExactly(5L, 2L);
      assertThat(ids(ledger, "u2")).containsExactly(4L, 3L);
      assertThat(ids(ledger, "u9")).isEmpty();
      assertThat(ledger.audit().verify()).isEmpty();
    }
  }

  /**
   * A meterd of schema version 8 that opened the ledger before another process upgraded it (a
   * daemon left running through the upgrade) keeps writing ledger rows, unlisted. Simulated by
   * exactly the rows its credit writes. The next listed commit lists from its own first row only,
   * so the old row is never listed: the wallet's page omits that grant for good, and verify fails
   * for good (wallet_txn cannot be repaired by any command).
   */
  @Test
  void aLedgerRowCommittedUnlistedIsListedByTheNextCommit() throws Exception {
    try (SqliteLedger ledger = open()) {
      ledger.walletStore().credit("u1", TxnType.GRANT, 100, "alice", null);
    }
    try (Connection c = jdbc()) {
      c.setAutoCommit(false);
      String previous;
      try (Statement st = c.createStatement();
          ResultSet rs = st.executeQuery("SELECT row_hash FROM ledger_txn ORDER BY txn_id DESC LIMIT 1")) {
        rs.next();
        previous = rs.getString(1);
      }
      SqliteWalletRows.Txn txn = new SqliteWalletRows.Txn(2, 1, TxnType.GRANT, 50, "2026-11-21T10:06:00Z", "bob",
          null, null, null, null);
      try (PreparedStatement ps = c.prepareStatement("INSERT INTO ledger_txn (txn_id, wallet_id, type, amount_cents, "
          + "occurred_at, initiated_by, row_hash) VALUES (2, 1, 'grant', 50, '2026-11-21T10:06:00Z', 'bob', ?)")) {
        ps.setString(1, TxnHash.of(previous, txn));
        ps.executeUpdate();
      }
      try (Statement st = c.createStatement()) {
        st.execute("UPDATE wallet SET balance_cents = balance_cents + 50 WHERE wallet_id = 1");
      }
      c.commit();
    }
    try (SqliteLedger ledger = open()) {
      ledger.walletStore().credit("u1", TxnType.GRANT, 7, "alice", null);
      assertThat(ledger.reads().wallet("u1").orElseThrow().balanceCents()).isEqualTo(157);
      assertThat(ledger.audit().verify()).isEmpty();
      assertThat(ids(ledger, "u1")).containsExactly(3L, 2L, 1L);
    }
  }

  // Consumed records are written at the group's COMMIT (ConsumedRows): the cases that lookup must still see.

  static NodeApplied runAt(NodeStore.NodeGroup group, String node, List<UsageRecord> records) throws Exception {
    try (NodeStore.NodeWrite w = group.beginNode(node)) {
      w.add("nodes/" + node + "/usage_2026-11-21-10.toml", records);
      return w.commit(new NodeCursor("c0ffee", "7ree", null));
    }
  }

  static List<String> consumedKeys(SqliteLedger ledger, String node) {
    List<String> keys = new java.util.ArrayList<>();
    ledger.audit().forEachConsumed(node, c -> keys.add(c.key()));
    return keys;
  }

  @Test
  void aKeyThatComesAgainInTheSameRunIsADuplicateOrAConflict() throws Exception {
    try (SqliteLedger ledger = open(); NodeStore.NodeGroup group = ledger.nodeStore().beginGroup(false)) {
      NodeApplied applied = runAt(group, "A", List.of(rec("k1", "u1", 5), rec("k1", "u1", 5), rec("k2", "u1", 3)));
      assertThat(applied).isEqualTo(new NodeApplied(2, 1, 8, Instant.parse("2026-11-21T10:00:00Z")));
      assertThatThrownBy(() -> runAt(group, "B", List.of(rec("k3", "u1", 1), rec("k3", "u2", 1))))
          .isInstanceOf(BatchContentException.class)
          .hasMessage("nodes/B/usage_2026-11-21-10.toml:1: idempotency_key \"k3\" was consumed with user_sid \"u1\" "
              + "and cost_cents 1; this record has user_sid \"u2\" and cost_cents 1");
      group.commit();
      assertThat(consumedKeys(ledger, "A")).containsExactly("k1", "k2");
      assertThat(consumedKeys(ledger, "B")).isEmpty();
      assertThat(ledger.reads().wallet("u1").orElseThrow().balanceCents()).isEqualTo(-8);
      assertThat(ledger.reads().wallet("u2")).isEmpty();
      assertThat(ledger.audit().verify()).isEmpty();
    }
  }

  /** A run past the bound of records held writes them as it goes, and then must look its earlier keys up in the table. */
  @Test
  void aRunLongerThanTheRecordsHeldFindsItsEarlierKeysOnceWritten() throws Exception {
    List<UsageRecord> records = new java.util.ArrayList<>();
    for (int i = 0; i < ConsumedRows.STAGED_AT_MOST; i++) {
      records.add(rec("k" + i, "u1", 1));
    }
    records.add(rec("k0", "u1", 1));
    records.add(rec("k7", "u2", 1));
    try (SqliteLedger ledger = open(); NodeStore.NodeGroup group = ledger.nodeStore().beginGroup(false)) {
      assertThatThrownBy(() -> runAt(group, "A", records))
          .isInstanceOf(BatchContentException.class)
          .hasMessage("nodes/A/usage_2026-11-21-10.toml:1: idempotency_key \"k7\" was consumed with user_sid \"u1\" "
              + "and cost_cents 1; this record has user_sid \"u2\" and cost_cents 1");
      NodeApplied applied = runAt(group, "A", records.subList(0, records.size() - 1));
      assertThat(applied.recordsConsumed()).isEqualTo(ConsumedRows.STAGED_AT_MOST);
      assertThat(applied.recordsDuplicate()).isEqualTo(1);
      group.commit();
      assertThat(ledger.reads().wallet("u1").orElseThrow().balanceCents()).isEqualTo(-ConsumedRows.STAGED_AT_MOST);
      assertThat(ledger.audit().verify()).isEmpty();
    }
  }

  /** Keys are looked up 50 at a time: the earlier run's keys are found wherever they fall in a file of 121 records. */
  @Test
  void keysConsumedInAnEarlierRunAreFoundInEveryLookUpOfAFile() throws Exception {
    List<Integer> before = List.of(0, 49, 50, 99, 120);
    try (SqliteLedger ledger = open()) {
      consume(ledger, "A", before.stream().map(i -> rec("k" + i, "u1", 2)).toArray(UsageRecord[]::new));
      List<UsageRecord> file = new java.util.ArrayList<>();
      for (int i = 0; i <= 120; i++) {
        file.add(rec("k" + i, "u1", 2));
      }
      NodeApplied applied;
      try (NodeStore.NodeGroup group = ledger.nodeStore().beginGroup(false)) {
        applied = runAt(group, "A", file);
        group.commit();
      }
      assertThat(applied.recordsConsumed()).isEqualTo(116);
      assertThat(applied.recordsDuplicate()).isEqualTo(5);
      assertThat(ledger.reads().wallet("u1").orElseThrow().balanceCents()).isEqualTo(-242);
      file.set(99, rec("k99", "u2", 2));
      try (NodeStore.NodeGroup group = ledger.nodeStore().beginGroup(false)) {
        assertThatThrownBy(() -> runAt(group, "A", file)).isInstanceOf(BatchContentException.class)
            .hasMessage("nodes/A/usage_2026-11-21-10.toml:1: idempotency_key \"k99\" was consumed with user_sid \"u1\" "
                + "and cost_cents 2; this record has user_sid \"u2\" and cost_cents 2");
      }
      assertThat(ledger.audit().verify()).isEmpty();
    }
  }

  /** A node run twice in one group (as verify --replay runs a node at each of its commits) sees its first run's records. */
  @Test
  void aNodeRunTwiceInOneGroupFindsItsFirstRunsRecords() throws Exception {
    try (SqliteLedger ledger = open(); NodeStore.NodeGroup group = ledger.nodeStore().beginGroup(false)) {
      runAt(group, "A", List.of(rec("k1", "u1", 5)));
      runAt(group, "B", List.of(rec("k1", "u1", 5)));
      NodeApplied again = runAt(group, "A", List.of(rec("k1", "u1", 5), rec("k2", "u1", 1)));
      assertThat(again.recordsConsumed()).isEqualTo(1);
      assertThat(again.recordsDuplicate()).isEqualTo(1);
      group.commit();
      assertThat(consumedKeys(ledger, "A")).containsExactly("k1", "k2");
      assertThat(ledger.reads().wallet("u1").orElseThrow().balanceCents()).isEqualTo(-11);
      assertThat(ledger.audit().verify()).isEmpty();
    }
  }

  @Test
  void theGroupsRecordsAreReadBetweenItsNodeRunsAndNeverInsideOne() throws Exception {
    try (SqliteLedger ledger = open(); NodeStore.NodeGroup group = ledger.nodeStore().beginGroup(false)) {
      runAt(group, "A", List.of(rec("k2", "u1", 5), rec("k1", "u1", 5)));
      assertThat(consumedKeys(ledger, "A")).containsExactly("k1", "k2");
      try (NodeStore.NodeWrite w = group.beginNode("B")) {
        assertThatThrownBy(() -> consumedKeys(ledger, "A")).isInstanceOf(IllegalStateException.class)
            .hasMessage("consumed records cannot be read on this connection inside the run of node B");
      }
      group.commit();
      assertThat(consumedKeys(ledger, "A")).containsExactly("k1", "k2");
    }
  }

  // Review of ba4877c: readers and failures while the group holds consumed records unwritten.

  /** A read of usage on the run's connection between two node runs sees the group's records with the charges they made. */
  @Test
  void aUsageReadOnTheSameConnectionBetweenNodeRunsSeesTheRecordsItsBalanceCounts() throws Exception {
    try (SqliteLedger ledger = open(); NodeStore.NodeGroup group = ledger.nodeStore().beginGroup(false)) {
      runAt(group, "A", List.of(rec("k1", "u1", 5)));
      assertThat(ledger.reads().wallet("u1").orElseThrow().balanceCents()).isEqualTo(-5);
      assertThat(ledger.reads().usage(LedgerReads.Bucket.DAY, null, null))
          .containsExactly(new LedgerReads.UsageBucket(java.time.LocalDate.parse("2026-11-21"), 1, 5, 0));
      assertThat(ledger.reads().newestOccurredAt()).isEqualTo(Instant.parse("2026-11-21T10:00:00Z"));
      group.commit();
    }
  }

  /**
   * The new catch of RuntimeException and Error in SqliteNodeGroup.commit also covers what runs
   * after a successful COMMIT (committed(): the after-commit hook, any Error but OutOfMemoryError):
   * the committed group is then reported lost, and rolled back (a no-op) though its rows stay.
   */
  @Test
  void aGroupThatCommittedIsNotReportedLostWhenWhatFollowsItsCommitThrows() throws Exception {
    try (SqliteLedger ledger = open()) {
      ledger.afterCommit(() -> {
        throw new IllegalStateException("after the commit");
      });
      NodeStore.NodeGroup group = ledger.nodeStore().beginGroup(false);
      runAt(group, "A", List.of(rec("k1", "u1", 5)));
      assertThatThrownBy(group::commit).isInstanceOf(IllegalStateException.class).hasMessage("after the commit");
      ledger.afterCommit(() -> {});
      assertThat(ledger.reads().wallet("u1").orElseThrow().balanceCents()).isEqualTo(-5);
      assertThat(consumedKeys(ledger, "A")).containsExactly("k1");
      assertThat(group.lost()).isEmpty();
    }
  }

  /**
   * A statement of a node's run fails in the database (a constraint stands for any refusal): the
   * node is rolled back to its savepoint and the group goes on. PostgreSQL refuses every statement
   * of a transaction after an error until it is rolled back to a savepoint, so this proves the
   * group recovers there too.
   */
  @Test
  void aStatementFailingInANodesRunRollsBackToItsSavepointAndTheGroupGoesOn() throws Exception {
    try (SqliteLedger ledger = open()) {
      String refusal;
      try (Connection c = jdbc(); Statement st = c.createStatement()) {
        refusal = refuseWallet(st, "bad");
      }
      try (NodeStore.NodeGroup group = ledger.nodeStore().beginGroup(false)) {
        run(group, "A", rec("a1", "u1", 5));
        assertThatThrownBy(() -> run(group, "B", rec("b1", "u2", 4), rec("b2", "bad", 2)))
            .isInstanceOf(LedgerException.class).hasMessageContaining(refusal);
        run(group, "C", rec("c1", "u1", 1));
        group.commit();
      }
      assertThat(ledger.reads().wallet("u1").orElseThrow().balanceCents()).isEqualTo(-6);
      assertThat(ledger.reads().wallet("u2")).isEmpty();
      assertThat(consumedKeys(ledger, "B")).isEmpty();
      assertThat(ids(ledger, "u1")).containsExactly(2L, 1L);
      assertThat(ledger.audit().verify()).isEmpty();
    }
  }

  // A trigger stands for a full disk: what the database does when a statement fails outside any node's savepoint.

  /** The listing INSERT fails (here a trigger stands for a full disk): the group is lost whole, and the next write lists only its own rows. */
  @Test
  void aFailedListingLosesTheGroupWholeAndTheNextWriteStartsClean() throws Exception {
    try (SqliteLedger ledger = open()) {
      ledger.walletStore().credit("u1", TxnType.GRANT, 100, "alice", null);
      try (Connection c = jdbc(); Statement st = c.createStatement()) {
        refuseInserts(st, "refuse_list", "wallet_txn", null);
      }
      NodeStore.NodeGroup group = ledger.nodeStore().beginGroup(false);
      run(group, "A", rec("a1", "u1", 5));
      assertThatThrownBy(group::commit).isInstanceOf(LedgerException.class).hasMessageContaining("disk says no");
      group.close();
      assertThatThrownBy(() -> ledger.walletStore().credit("u1", TxnType.GRANT, 3, "alice", null))
          .hasMessageContaining("disk says no");
      try (Connection c = jdbc(); Statement st = c.createStatement()) {
        allowInserts(st, "refuse_list", "wallet_txn");
      }
      ledger.walletStore().credit("u1", TxnType.GRANT, 3, "alice", null);
      assertThat(ids(ledger, "u1")).containsExactly(2L, 1L);
      assertThat(ledger.reads().wallet("u1").orElseThrow().balanceCents()).isEqualTo(103);
      assertThat(ledger.audit().verify()).isEmpty();
    }
  }

  /**
   * Writing the held records for a read fails on the second multi-row INSERT (a trigger stands for
   * a full disk), after the first 50 rows were written outside any savepoint: the group is lost
   * whole, so nothing of it is committed, rather than going on half written.
   */
  @Test
  void aFailedWriteOfTheHeldRecordsForAReadLosesTheGroupWhole() throws Exception {
    List<UsageRecord> records = new java.util.ArrayList<>();
    for (int i = 0; i < 100; i++) {
      records.add(rec(String.format("k%02d", i), "u1", 1));
    }
    try (SqliteLedger ledger = open()) {
      ledger.walletStore().credit("u1", TxnType.GRANT, 1000, "alice", null);
      try (Connection c = jdbc(); Statement st = c.createStatement()) {
        refuseInserts(st, "refuse_k60", "consumed_newest", "NEW.idempotency_key = 'k60'");
      }
      try (NodeStore.NodeGroup group = ledger.nodeStore().beginGroup(false)) {
        runAt(group, "A", records);
        assertThatThrownBy(() -> consumedKeys(ledger, "A")).isInstanceOf(NodeStore.GroupLostException.class)
            .hasMessageContaining("cannot write the records consumed by a group of 1 nodes (A to A) in the database ")
            .hasMessageContaining("disk says no");
        assertThat(group.lost()).isPresent();
        assertThatThrownBy(() -> runAt(group, "B", List.of(rec("b1", "u1", 1))))
            .isInstanceOf(NodeStore.GroupLostException.class);
        assertThatThrownBy(group::commit).isInstanceOf(NodeStore.GroupLostException.class);
      }
      assertThat(consumedKeys(ledger, "A")).isEmpty();
      assertThat(ledger.reads().wallet("u1").orElseThrow().balanceCents()).isEqualTo(1000);
      assertThat(ledger.nodeStore().tracks()).doesNotContainKey("A");
      assertThat(ledger.audit().verify()).isEmpty();
    }
  }
}
