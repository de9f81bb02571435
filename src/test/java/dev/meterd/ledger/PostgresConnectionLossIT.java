package dev.meterd.ledger;

import static dev.meterd.testing.UsageRepo.HOUR_10;
import static dev.meterd.testing.UsageRepo.batch;
import static dev.meterd.testing.UsageRepo.record;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.meterd.batch.BatchParser;
import dev.meterd.batch.UsageRecord;
import dev.meterd.engine.Aggregator;
import dev.meterd.engine.FaultInjector;
import dev.meterd.engine.GroupBounds;
import dev.meterd.engine.NodeOutcome;
import dev.meterd.engine.RunRequest;
import dev.meterd.engine.RunSummary;
import dev.meterd.policy.CreditRules;
import dev.meterd.source.git.GitBatchSource;
import dev.meterd.testing.CuttingProxy;
import dev.meterd.testing.LedgerContents;
import dev.meterd.testing.LocalPostgresCluster;
import dev.meterd.testing.MutableClock;
import dev.meterd.testing.TestPostgres;
import dev.meterd.testing.UsageRepo;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * PostgreSQL lost under an open ledger: stopped and started again (a cluster of this test's own),
 * or a connection cut in the middle of a COMMIT (by a proxy). The transaction that was cut off
 * fails with a clear error and leaves nothing half written; the same ledger object's next
 * transaction takes a new connection; and what was committed is found exactly, never charged
 * twice.
 */
class PostgresConnectionLossIT {

  private static final String HINT = "; check that PostgreSQL is running and reachable";

  private static LocalPostgresCluster cluster;

  @TempDir
  Path tmp;

  private final MutableClock clock = new MutableClock(Instant.parse("2026-11-21T10:05:00Z"));
  private TestPostgres.Database db;

  @BeforeAll
  static void startCluster() {
    cluster = LocalPostgresCluster.startOwn();
  }

  @AfterAll
  static void removeCluster() {
    cluster.close();
  }

  @AfterEach
  void leaveTheServerRunning() {
    cluster.startIfStopped();
  }

  private SqliteLedger open(String url) {
    return PostgresLedger.open(url, db.user(), db.password(), clock, new PostgresLedger.Settings(2_000, 60_000, 4),
        CreditRules.DEFAULT, "USD");
  }

  private SqliteLedger open() {
    db = cluster.freshDatabase();
    return open(db.jdbcUrl());
  }

  private static UsageRecord rec(String key, String user, long cost) {
    return new UsageRecord(key, user, cost, Instant.parse("2026-11-21T10:00:00Z"), null, null, 1);
  }

  private static NodeApplied consume(SqliteLedger ledger, String node, UsageRecord... records) throws Exception {
    try (NodeStore.NodeWrite w = ledger.nodeStore().beginNode(node, false)) {
      w.add("nodes/" + node + "/" + HOUR_10, List.of(records));
      return w.commit(new NodeCursor("c0ffee", "7ree", null));
    }
  }

  /**
   * The error of the first statement on a connection the server ended: the server's farewell, or,
   * should the connection's reset arrive before it is read, the driver's I/O error.
   */
  private void assertCutOff(LedgerException e, String what) {
    assertThat(e.getMessage()).isIn(
        "cannot " + what + " in the database " + db.jdbcUrl() + ": FATAL: terminating connection due to "
            + "administrator command" + HINT,
        "cannot " + what + " in the database " + db.jdbcUrl() + ": An I/O error occurred while sending to the "
            + "backend." + HINT);
  }

  /** The error of a transaction that needs a new connection while the server is down. */
  private void assertRefused(LedgerException e, String what) {
    assertThat(e).hasMessage("cannot " + what + " in the database " + db.jdbcUrl() + ": no connection could be made "
        + "as user " + db.user() + ": Connection to 127.0.0.1:" + cluster.port() + " refused. Check that the "
        + "hostname and port are correct and that the postmaster is accepting TCP/IP connections." + HINT);
  }

  @Test
  void writesWhileTheServerIsDownFailClearlyAndTheSameLedgerWritesOnceItIsBack() throws Exception {
    try (SqliteLedger ledger = open()) {
      ledger.walletStore().credit("u1", TxnType.GRANT, 1_000, "alice", null);
      consume(ledger, "A", rec("a1", "u1", 10), rec("a2", "u1", 20));
      assertThat(ledger.holds().credit("u1").balanceCents()).isEqualTo(970);

      cluster.stop();
      assertCutOff(catchThrowableOfType(LedgerException.class,
          () -> ledger.walletStore().credit("u1", TxnType.GRANT, 50, "alice", null)), "credit the wallet of u1");
      assertRefused(catchThrowableOfType(LedgerException.class, () -> consume(ledger, "B", rec("b1", "u1", 5))),
          "start a group of node runs");
      assertRefused(catchThrowableOfType(LedgerException.class, () -> ledger.reads().wallet("u1")),
          "read the wallet of u1");
      // The credit reads' own connection is found cut off by its own first statement.
      assertCutOff(catchThrowableOfType(LedgerException.class, () -> ledger.holds().credit("u1")),
          "read the credit of 1 wallets");
      assertRefused(catchThrowableOfType(LedgerException.class, () -> ledger.holds().credit("u1")),
          "read the credit of 1 wallets");

      cluster.start();
      ledger.walletStore().credit("u1", TxnType.GRANT, 50, "alice", null);
      assertThat(consume(ledger, "B", rec("b1", "u1", 5)).recordsConsumed()).isEqualTo(1);
      assertThat(ledger.holds().credit("u1").balanceCents()).isEqualTo(1_015);
      assertThat(ledger.reads().wallet("u1").orElseThrow().balanceCents()).isEqualTo(1_015);
      assertThat(ledger.reads().transactions("u1", 10)).extracting(LedgerTxn::amountCents)
          .containsExactly(-5L, 50L, -30L, 1_000L);
      assertThat(LedgerContents.consumedKeys(ledger, "A")).containsExactly("a1", "a2");
      assertThat(LedgerContents.consumedKeys(ledger, "B")).containsExactly("b1");
      assertThat(ledger.audit().verify()).isEmpty();
    }
  }

  /** A connection idle across a restart is tested before the next transaction: that one does not fail. */
  @Test
  void aWriteAfterARestartItDidNotSeeSucceedsAtOnce() {
    try (SqliteLedger ledger = open()) {
      ledger.walletStore().credit("u1", TxnType.GRANT, 100, "alice", null);
      assertThat(ledger.holds().credit("u1").balanceCents()).isEqualTo(100);

      cluster.stop();
      cluster.start();
      clock.advance(Duration.ofSeconds(2));

      ledger.walletStore().credit("u1", TxnType.GRANT, 20, "alice", null);
      assertThat(ledger.reads().wallet("u1").orElseThrow().balanceCents()).isEqualTo(120);
      assertThat(ledger.holds().credit("u1").balanceCents()).isEqualTo(120);
      assertThat(ledger.audit().verify()).isEmpty();
    }
  }

  @Test
  void aGroupWhoseServerStopsBeforeItsCommitLeavesNothingAndIsAppliedWholeAfterwards() throws Exception {
    try (SqliteLedger ledger = open()) {
      ledger.walletStore().credit("u1", TxnType.GRANT, 1_000, "alice", null);
      NodeStore.NodeGroup group = ledger.nodeStore().beginGroup(false);
      try (NodeStore.NodeWrite w = group.beginNode("A")) {
        w.add("nodes/A/" + HOUR_10, List.of(rec("a1", "u1", 10), rec("a2", "u1", 20)));
        w.commit(new NodeCursor("c0ffee", "7ree", null));
      }

      cluster.stop();
      assertCutOff(catchThrowableOfType(LedgerException.class, group::commit), "commit the run of node A");
      assertThat(group.lost()).isPresent();
      group.close();

      cluster.start();
      assertThat(ledger.reads().wallet("u1").orElseThrow().balanceCents()).isEqualTo(1_000);
      assertThat(LedgerContents.consumedKeys(ledger, "A")).isEmpty();
      NodeApplied again = consume(ledger, "A", rec("a1", "u1", 10), rec("a2", "u1", 20));
      assertThat(again.recordsConsumed()).isEqualTo(2);
      assertThat(again.recordsDuplicate()).isZero();
      assertThat(ledger.reads().wallet("u1").orElseThrow().balanceCents()).isEqualTo(970);
      assertThat(ledger.audit().verify()).isEmpty();
    }
  }

  /**
   * A COMMIT whose answer never comes may have committed or not: the run reports the group lost
   * either way, and the next run finds what is in the database (the consumed records and the
   * cursors) and charges each record exactly once.
   */
  @ParameterizedTest
  @EnumSource(CuttingProxy.Cut.class)
  void aCommitCutOffIsReportedLostAndTheNextRunChargesEachRecordOnce(CuttingProxy.Cut cut) throws Exception {
    db = cluster.freshDatabase();
    try (CuttingProxy proxy = new CuttingProxy(cluster.port());
        UsageRepo repo = new UsageRepo(tmp.resolve("usage.git"))) {
      String url = db.jdbcUrl().replace(":" + cluster.port() + "/", ":" + proxy.port() + "/") + "?prepareThreshold=0";
      repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 10), record("a2", "u2", 20)),
          "nodes/B/" + HOUR_10, batch(record("b1", "u1", 5)));
      try (SqliteLedger ledger = open(url);
          GitBatchSource source = GitBatchSource.open(repo.dir().toString(), "main", tmp.resolve("clone"),
              Optional.empty())) {
        ledger.walletStore().credit("u1", TxnType.GRANT, 1_000, "alice", null);
        ledger.walletStore().credit("u2", TxnType.GRANT, 1_000, "alice", null);
        Aggregator aggregator = new Aggregator(source, ledger, new BatchParser(BatchParser.Limits.DEFAULT), clock,
            FaultInjector.NONE, new GroupBounds(GroupBounds.DEFAULT.maxNodes(), GroupBounds.DEFAULT.maxRecords(),
                Duration.ofHours(1), GroupBounds.DEFAULT.readAhead()));

        proxy.cutNextCommit(cut);
        RunSummary first = aggregator.run(RunRequest.ALL);
        assertThat(proxy.cut.getCount()).isZero();
        boolean committed = cut == CuttingProxy.Cut.AFTER_THE_SERVER_ANSWERED;
        if (committed) {
          // The COMMIT that reached the server ended the nodes' claims: the run cannot halt what is
          // no longer its own, and leaves them, as it would nodes another daemon holds.
          assertThat(first.halted()).isEmpty();
          assertThat(first.nodesSkipped()).isEqualTo(2);
        } else {
          assertThat(first.halted()).extracting(NodeOutcome.Halted::node).containsExactly("A", "B");
          assertThat(first.halted().get(0).error().message()).startsWith("the group of 2 nodes it was applied with "
              + "could not be committed: cannot commit a group of 2 nodes (A to B) in the database " + url + ": ")
              .endsWith(HINT + "; it is retried on the next run");
        }
        assertThat(LedgerContents.consumedKeys(ledger, "A")).isEqualTo(committed ? List.of("a1", "a2") : List.of());

        clock.advance(Duration.ofMinutes(5));
        RunSummary second = aggregator.run(RunRequest.ALL);
        assertThat(second.halted()).isEmpty();
        assertThat(second.recordsConsumed()).isEqualTo(committed ? 0 : 3);
        assertThat(ledger.reads().wallet("u1").orElseThrow().balanceCents()).isEqualTo(985);
        assertThat(ledger.reads().wallet("u2").orElseThrow().balanceCents()).isEqualTo(980);
        assertThat(LedgerContents.consumedKeys(ledger, "A")).containsExactly("a1", "a2");
        assertThat(LedgerContents.consumedKeys(ledger, "B")).containsExactly("b1");
        // The grant, and one charge of each node: none twice.
        assertThat(ledger.reads().transactions("u1", 10)).extracting(LedgerTxn::amountCents)
            .containsExactly(-5L, -10L, 1_000L);
        assertThat(ledger.audit().verify()).isEmpty();
      }
    }
  }
}
