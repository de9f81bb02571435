package dev.meterd.ledger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meterd.batch.UsageRecord;
import dev.meterd.testing.LeaseLog;
import dev.meterd.testing.MutableClock;
import dev.meterd.testing.TestPostgres;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Node leases on PostgreSQL: claims that exclude each other and never wait, lapsed leases taken
 * over with a higher epoch, and the fence that refuses the write of a daemon whose lease was taken.
 * A lapse is made by moving the lease's expiry into the past: the database's clock decides.
 */
class PostgresLeasesIT {

  private final TestPostgres.Database db = TestPostgres.freshDatabase();
  private final MutableClock clock = new MutableClock(Instant.parse("2026-11-21T10:00:00Z"));
  private final List<SqliteLedger> opened = new ArrayList<>();

  @AfterEach
  void close() {
    opened.forEach(SqliteLedger::close);
  }

  private SqliteLedger daemon(String holder) {
    return daemon(holder, Duration.ofMinutes(10));
  }

  private SqliteLedger daemon(String holder, Duration lease) {
    SqliteLedger ledger = db.openAsDaemon(holder, clock, lease, SqliteLedger.DEFAULT_BUSY_TIMEOUT_MS);
    opened.add(ledger);
    return ledger;
  }

  private Connection jdbc() throws SQLException {
    return DriverManager.getConnection(db.jdbcUrl(), db.user(), db.password());
  }

  private void lapse(String node) throws SQLException {
    try (Connection c = jdbc(); Statement st = c.createStatement()) {
      assertThat(st.executeUpdate("UPDATE node_lease SET expires_at_ms = 0 WHERE node = '" + node + "'")).isEqualTo(1);
    }
  }

  private List<LeaseLog.Entry> log() throws SQLException {
    try (Connection c = jdbc()) {
      return LeaseLog.read(c);
    }
  }

  private static UsageRecord rec(String key, String user, long cost) {
    return LedgerContractTests.rec(key, user, cost);
  }

  private long balance(SqliteLedger ledger, String user) {
    return ledger.reads().wallet(user).orElseThrow().balanceCents();
  }

  @Test
  void aClaimTakesOnlyTheNodesNoOtherDaemonHolds() {
    SqliteLedger a = daemon("daemon-a");
    SqliteLedger b = daemon("daemon-b");

    assertThat(a.leases().claim(List.of("n2", "n1")).epochs()).isEqualTo(Map.of("n1", 1L, "n2", 1L));
    assertThat(b.leases().claim(List.of("n1", "n2", "n3")).epochs()).isEqualTo(Map.of("n3", 1L));

    assertThat(a.leases().leases()).extracting(NodeLeases.Lease::node, NodeLeases.Lease::holder,
        NodeLeases.Lease::epoch, NodeLeases.Lease::live).containsExactly(
            org.assertj.core.groups.Tuple.tuple("n1", "daemon-a", 1L, true),
            org.assertj.core.groups.Tuple.tuple("n2", "daemon-a", 1L, true),
            org.assertj.core.groups.Tuple.tuple("n3", "daemon-b", 1L, true));
  }

  @Test
  void aLapsedLeaseIsTakenOverWithTheNextEpoch() throws Exception {
    SqliteLedger a = daemon("daemon-a");
    SqliteLedger b = daemon("daemon-b");
    a.leases().claim(List.of("n1"));

    lapse("n1");

    assertThat(b.leases().claim(List.of("n1")).epochs()).isEqualTo(Map.of("n1", 2L));
    assertThat(b.leases().takeovers()).isEqualTo(1);
    assertThat(log()).extracting(LeaseLog.Entry::node, LeaseLog.Entry::epoch, LeaseLog.Entry::holder,
        LeaseLog.Entry::event).containsExactly(
            org.assertj.core.groups.Tuple.tuple("n1", 1L, "daemon-a", "claim"),
            org.assertj.core.groups.Tuple.tuple("n1", 2L, "daemon-b", "takeover"));
    assertThat(LeaseLog.violations(log())).isEmpty();
  }

  @Test
  void theRunOfADaemonWhoseLeaseWasTakenOverIsRefusedAndWritesNothing() throws Exception {
    SqliteLedger a = daemon("daemon-a");
    SqliteLedger b = daemon("daemon-b");
    a.walletStore().credit("u1", TxnType.GRANT, 1_000, "admin", "seed");
    a.leases().claim(List.of("n1"));
    lapse("n1");
    b.leases().claim(List.of("n1"));

    try (NodeStore.NodeGroup group = a.nodeStore().beginGroup(false)) {
      assertThatThrownBy(() -> LedgerContractTests.run(group, "n1", rec("k1", "u1", 300)))
          .isInstanceOf(LeaseLostException.class)
          .hasMessage("node n1 is no longer this daemon's (daemon-a): its lease of epoch 1 lapsed and another daemon "
              + "claimed it, so this daemon's run of it is rolled back and nothing of it written");
      group.commit();
    }

    assertThat(balance(b, "u1")).isEqualTo(1_000);
    try (Connection c = jdbc(); Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT (SELECT count(*) FROM consumed_record), (SELECT count(*) FROM node)")) {
      rs.next();
      assertThat(rs.getLong(1)).isZero();
      assertThat(rs.getLong(2)).isZero();
    }
    try (NodeStore.NodeGroup group = b.nodeStore().beginGroup(false)) {
      LedgerContractTests.run(group, "n1", rec("k1", "u1", 300));
      group.commit();
    }
    assertThat(balance(b, "u1")).isEqualTo(700);
    assertThat(log()).extracting(LeaseLog.Entry::holder, LeaseLog.Entry::event).containsExactly(
        org.assertj.core.groups.Tuple.tuple("daemon-a", "claim"),
        org.assertj.core.groups.Tuple.tuple("daemon-b", "takeover"),
        org.assertj.core.groups.Tuple.tuple("daemon-b", "commit"));
    assertThat(LeaseLog.violations(log())).isEmpty();
  }

  @Test
  void aHaltOfANodeTakenOverIsRefusedToo() throws Exception {
    SqliteLedger a = daemon("daemon-a");
    SqliteLedger b = daemon("daemon-b");
    a.leases().claim(List.of("n1"));
    lapse("n1");
    b.leases().claim(List.of("n1"));

    try (NodeStore.NodeGroup group = a.nodeStore().beginGroup(false)) {
      assertThatThrownBy(() -> group.halt("n1", new NodeError(NodeError.Kind.TRANSIENT, null, null, "slow disk"), null))
          .isInstanceOf(LeaseLostException.class)
          .hasMessageContaining("so this daemon's halt of it is rolled back");
      group.commit();
    }
    assertThatThrownBy(() -> a.nodeStore().halt("n1", new NodeError(NodeError.Kind.TRANSIENT, null, null, "slow disk"),
        null)).isInstanceOf(LeaseLostException.class);

    assertThat(b.nodeStore().haltedNodes()).isEmpty();
    assertThat(b.nodeStore().tracks()).isEmpty();
  }

  @Test
  void aClaimSkipsANodeWhoseRunIsCommittingAndTakesItOnceGivenBack() throws Exception {
    SqliteLedger a = daemon("daemon-a");
    SqliteLedger b = daemon("daemon-b");
    a.walletStore().credit("u1", TxnType.GRANT, 1_000, "admin", "seed");
    a.leases().claim(List.of("n1"));

    try (NodeStore.NodeGroup group = a.nodeStore().beginGroup(false)) {
      LedgerContractTests.run(group, "n1", rec("k1", "u1", 300));
      // The fence holds n1's row until the group commits: b's claim passes it by without waiting.
      assertThat(b.leases().claim(List.of("n1", "n2")).epochs()).isEqualTo(Map.of("n2", 1L));
      group.commit();
    }

    NodeLeases.Claimed claimed = b.leases().claim(List.of("n1"));
    assertThat(claimed.epochs()).isEqualTo(Map.of("n1", 2L));
    assertThat(claimed.tracks()).isEqualTo(Map.of("n1", new NodeStore.NodeTrack("c0ffee", "7ree", null, null)));
    assertThat(LeaseLog.violations(log())).isEmpty();
    assertThat(LeaseLog.commitsByNode(log())).isEqualTo(Map.of("n1", List.of("daemon-a")));
  }

  @Test
  void aGroupRolledBackKeepsTheLeaseAndItsHaltEndsIt() throws Exception {
    SqliteLedger a = daemon("daemon-a");
    SqliteLedger b = daemon("daemon-b");
    a.walletStore().credit("u1", TxnType.GRANT, 1_000, "admin", "seed");
    a.leases().claim(List.of("n1"));

    try (NodeStore.NodeGroup group = a.nodeStore().beginGroup(false)) {
      LedgerContractTests.run(group, "n1", rec("k1", "u1", 300));
      // Closed uncommitted: as a group lost to a full disk.
    }
    assertThat(b.leases().claim(List.of("n1")).epochs()).isEmpty();
    a.nodeStore().halt("n1", new NodeError(NodeError.Kind.TRANSIENT, null, null, "the group was lost"), null);

    assertThat(b.leases().claim(List.of("n1")).epochs()).isEqualTo(Map.of("n1", 2L));
    assertThat(log()).extracting(LeaseLog.Entry::epoch, LeaseLog.Entry::holder, LeaseLog.Entry::event)
        .containsExactly(org.assertj.core.groups.Tuple.tuple(1L, "daemon-a", "claim"),
            org.assertj.core.groups.Tuple.tuple(1L, "daemon-a", "halt"),
            org.assertj.core.groups.Tuple.tuple(2L, "daemon-b", "claim"));
    assertThat(balance(a, "u1")).isEqualTo(1_000);
  }

  @Test
  void renewalKeepsALapsedLeaseThatNoOneTookAndAGiveBackFreesEveryLease() throws Exception {
    SqliteLedger a = daemon("daemon-a");
    SqliteLedger b = daemon("daemon-b");
    a.leases().claim(List.of("n1", "n2"));
    lapse("n1");

    assertThat(a.leases().renew(List.of("n1", "n2", "n3"))).isEqualTo(2);
    assertThat(a.leases().leases()).extracting(NodeLeases.Lease::live).containsExactly(true, true);
    assertThat(b.leases().claim(List.of("n1", "n2")).epochs()).isEmpty();

    assertThat(a.leases().releaseAll()).isEqualTo(2);
    assertThat(a.leases().leases()).extracting(NodeLeases.Lease::holder, NodeLeases.Lease::live)
        .containsExactly(org.assertj.core.groups.Tuple.tuple(null, false), org.assertj.core.groups.Tuple.tuple(null, false));
    assertThat(b.leases().claim(List.of("n1", "n2")).epochs()).isEqualTo(Map.of("n1", 2L, "n2", 2L));
    assertThat(b.leases().takeovers()).isZero();
    assertThat(LeaseLog.violations(log())).isEmpty();
  }

  @Test
  void aDaemonOnlyGivesBackItsOwnLeases() {
    SqliteLedger a = daemon("daemon-a");
    SqliteLedger b = daemon("daemon-b");
    a.leases().claim(List.of("n1"));
    b.leases().claim(List.of("n2"));

    assertThat(b.leases().release(List.of("n1", "n2"))).isEqualTo(1);
    assertThat(a.leases().leases()).extracting(NodeLeases.Lease::node, NodeLeases.Lease::holder)
        .containsExactly(org.assertj.core.groups.Tuple.tuple("n1", "daemon-a"), org.assertj.core.groups.Tuple.tuple("n2", null));
  }

  @Test
  void theLogIsAppendOnly() throws Exception {
    daemon("daemon-a").leases().claim(List.of("n1"));
    try (Connection c = jdbc(); Statement st = c.createStatement()) {
      assertThatThrownBy(() -> st.executeUpdate("UPDATE lease_log SET holder = 'x'"))
          .hasMessageContaining("lease_log is append-only");
      assertThatThrownBy(() -> st.executeUpdate("DELETE FROM lease_log")).hasMessageContaining("lease_log is append-only");
    }
  }

  @Test
  void aWebhookEventIsClaimedByOneDaemonUntilItsDeliveryLeaseLapses() throws Exception {
    SqliteLedger a = daemon("daemon-a");
    SqliteLedger b = daemon("daemon-b");
    a.nodeStore().halt("n1", new NodeError(NodeError.Kind.TRANSIENT, null, null, "slow disk"), null);

    List<List<Delivery>> claims = concurrently(() -> a.outbox().claimDue(10, Duration.ofMinutes(5)),
        () -> b.outbox().claimDue(10, Duration.ofMinutes(5)));

    assertThat(claims.get(0).size() + claims.get(1).size()).isEqualTo(1);
    clock.advance(Duration.ofMinutes(5));
    assertThat(b.outbox().claimDue(10, Duration.ofMinutes(5))).extracting(Delivery::attempts).containsExactly(2);
    assertThat(a.outbox().claimDue(10, Duration.ofMinutes(5))).isEmpty();
  }

  @Test
  void anAlertDueFiresOnceWhenTwoDaemonsRunAlertsAtOnce() throws Exception {
    SqliteLedger a = daemon("daemon-a");
    SqliteLedger b = daemon("daemon-b");
    a.walletStore().updateSettings("u1", new dev.meterd.policy.WalletSettings.Patch(100_000L, null, null, null, null),
        "ops");
    try (NodeStore.NodeGroup group = a.nodeStore().beginGroup(false)) {
      LedgerContractTests.run(group, "n1", rec("k1", "u1", 4_000));
      group.commit();
    }
    a.walletStore().updateSettings("u1", new dev.meterd.policy.WalletSettings.Patch(5_000L, null, null, null, null),
        "ops");

    List<List<BudgetAlert>> fired = concurrently(() -> a.walletStore().fireDueAlerts("2026-11", false),
        () -> b.walletStore().fireDueAlerts("2026-11", false));

    List<String> all = new ArrayList<>();
    fired.forEach(list -> list.forEach(alert -> all.add(alert.userSid() + " " + alert.thresholdPct())));
    assertThat(all).containsExactlyInAnyOrder("u1 50", "u1 80");
    assertThat(a.walletStore().fireDueAlerts("2026-11", false)).isEmpty();
  }

  /**
   * The server ends a transaction left idle as long as a lease, so that a frozen daemon's write
   * keeps no lock from the others; a snapshot read holds none, and `verify --replay` reads its
   * snapshot for as long as it takes to replay the history between two reads of it.
   */
  @Test
  void aSnapshotReadIdleLongerThanALeaseIsNotEndedByTheServer() throws Exception {
    SqliteLedger a = daemon("daemon-a", Duration.ofSeconds(1));
    a.walletStore().credit("u1", TxnType.GRANT, 1_000, "admin", "seed");

    long balance = a.audit().readSnapshot(() -> {
      // As the replay does between two nodes: the snapshot's transaction idles past the lease.
      try (Connection c = jdbc(); Statement st = c.createStatement()) {
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
          try (ResultSet rs = st.executeQuery("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
              + "'meterd daemon-a' AND state = 'idle in transaction' AND clock_timestamp() - state_change < "
              + "interval '3 seconds'")) {
            rs.next();
            if (rs.getLong(1) == 0) {
              break;
            }
          }
          java.util.concurrent.locks.LockSupport.parkNanos(java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(50));
        }
      }
      return balance(a, "u1");
    });

    assertThat(balance).isEqualTo(1_000);
  }

  /** Runs both at once (each waits for the other to be ready) and returns their results in order. */
  private static <T> List<T> concurrently(java.util.concurrent.Callable<T> first, java.util.concurrent.Callable<T> second)
      throws Exception {
    java.util.concurrent.CyclicBarrier ready = new java.util.concurrent.CyclicBarrier(2);
    java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(2);
    try {
      var f1 = pool.submit(() -> {
        ready.await();
        return first.call();
      });
      var f2 = pool.submit(() -> {
        ready.await();
        return second.call();
      });
      return List.of(f1.get(60, java.util.concurrent.TimeUnit.SECONDS), f2.get(60, java.util.concurrent.TimeUnit.SECONDS));
    } finally {
      pool.shutdownNow();
    }
  }
}
