package dev.meterd.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.batch.BatchParser;
import dev.meterd.ledger.Ledger;
import dev.meterd.ledger.SqliteLedger;
import dev.meterd.ledger.Wallet;
import dev.meterd.source.git.GitBatchSource;
import dev.meterd.testing.CountingSource;
import dev.meterd.testing.LeaseLog;
import dev.meterd.testing.MutableClock;
import dev.meterd.testing.TestPostgres;
import dev.meterd.testing.UsageRepo;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Two daemons' aggregators on one PostgreSQL database, sharing the nodes by their leases. */
class SharedNodesIT {

  @TempDir
  Path tmp;

  private final TestPostgres.Database db = TestPostgres.freshDatabase();
  private final MutableClock clock = new MutableClock(Instant.parse("2026-11-21T10:05:00Z"));
  private final List<AutoCloseable> opened = new ArrayList<>();

  @AfterEach
  void close() throws Exception {
    for (AutoCloseable c : opened) {
      c.close();
    }
  }

  private SqliteLedger daemon(String holder) {
    return daemon(holder, Duration.ofMinutes(10), SqliteLedger.DEFAULT_BUSY_TIMEOUT_MS);
  }

  private SqliteLedger daemon(String holder, Duration lease, int lockTimeoutMs) {
    SqliteLedger ledger = db.openAsDaemon(holder, clock, lease, lockTimeoutMs);
    opened.add(ledger);
    return ledger;
  }

  private Connection jdbc() throws SQLException {
    return DriverManager.getConnection(db.jdbcUrl(), db.user(), db.password());
  }

  /** When the node's lease lapses, by the database's clock (milliseconds since 1970). */
  private long expiry(String node) {
    try (Connection c = jdbc(); Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT expires_at_ms FROM node_lease WHERE node = '" + node + "'")) {
      rs.next();
      return rs.getLong(1);
    } catch (SQLException e) {
      throw new IllegalStateException(e);
    }
  }

  private CountingSource source(UsageRepo repo, String name) throws Exception {
    CountingSource source = new CountingSource(GitBatchSource.open(repo.dir().toString(), "main",
        tmp.resolve("clone-" + name), Optional.empty()));
    opened.add(source::close);
    return source;
  }

  private static Aggregator aggregator(CountingSource source, Ledger ledger, MutableClock clock) {
    // Groups of a few nodes, so that the two runs' groups interleave.
    return new Aggregator(source, ledger, new BatchParser(BatchParser.Limits.DEFAULT), clock, FaultInjector.NONE,
        new GroupBounds(4, 1_000, Duration.ofHours(1), 8));
  }

  private List<LeaseLog.Entry> leaseLog() throws SQLException {
    try (Connection c = DriverManager.getConnection(db.jdbcUrl(), db.user(), db.password())) {
      return LeaseLog.read(c);
    }
  }

  private long count(String sql) throws SQLException {
    try (Connection c = DriverManager.getConnection(db.jdbcUrl(), db.user(), db.password());
        Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
      rs.next();
      return rs.getLong(1);
    }
  }

  private static Set<String> consumed(RunSummary summary) {
    return summary.outcomes().stream().filter(o -> o instanceof NodeOutcome.Consumed).map(NodeOutcome::node)
        .collect(Collectors.toSet());
  }

  /** 120 nodes, each one file of 3 records of 10 users shared by every node. */
  private UsageRepo seeded() throws Exception {
    UsageRepo repo = new UsageRepo(tmp.resolve("usage.git"));
    opened.add(repo);
    List<String> files = new ArrayList<>();
    for (int n = 0; n < 120; n++) {
      String node = "edge-%03d".formatted(n);
      files.add("nodes/" + node + "/" + UsageRepo.HOUR_10);
      files.add(UsageRepo.batch(UsageRepo.record(node + "-a", "user-" + n % 10, 1 + n % 7),
          UsageRepo.record(node + "-b", "user-" + (n + 3) % 10, 5), UsageRepo.record(node + "-c", "user-" + (n + 5) % 10, 2)));
    }
    repo.commit(files.toArray(String[]::new));
    return repo;
  }

  @Test
  void twoDaemonsRunningAtOnceApplyEveryNodeOnceBetweenThem() throws Exception {
    UsageRepo repo = seeded();
    SqliteLedger a = daemon("daemon-a");
    SqliteLedger b = daemon("daemon-b");
    Aggregator runA = aggregator(source(repo, "a"), a, clock);
    Aggregator runB = aggregator(source(repo, "b"), b, clock);

    CountDownLatch start = new CountDownLatch(1);
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try {
      Future<RunSummary> fa = pool.submit(() -> {
        start.await();
        return runA.run(RunRequest.ALL);
      });
      Future<RunSummary> fb = pool.submit(() -> {
        start.await();
        return runB.run(RunRequest.ALL);
      });
      start.countDown();
      RunSummary sa = fa.get(5, TimeUnit.MINUTES);
      RunSummary sb = fb.get(5, TimeUnit.MINUTES);

      Set<String> both = new HashSet<>(consumed(sa));
      both.retainAll(consumed(sb));
      assertThat(both).as("nodes applied by both daemons").isEmpty();
      assertThat(consumed(sa).size() + consumed(sb).size()).isEqualTo(120);
      assertThat(sa.halted()).isEmpty();
      assertThat(sb.halted()).isEmpty();
      assertThat(sa.recordsConsumed() + sb.recordsConsumed()).isEqualTo(360);
      assertThat(sa.nodesTotal()).isEqualTo(120);
      assertThat(sb.nodesTotal()).isEqualTo(120);
    } finally {
      pool.shutdownNow();
    }

    long expected = 0;
    for (int n = 0; n < 120; n++) {
      expected += 1 + n % 7 + 5 + 2;
    }
    long charged = 0;
    for (int u = 0; u < 10; u++) {
      charged -= a.reads().wallet("user-" + u).map(Wallet::balanceCents).orElseThrow();
    }
    assertThat(charged).isEqualTo(expected);
    assertThat(count("SELECT count(*) FROM consumed_record")).isEqualTo(360);
    assertThat(a.audit().verify()).isEmpty();
    List<LeaseLog.Entry> log = leaseLog();
    assertThat(LeaseLog.violations(log)).isEmpty();
    Map<String, List<String>> commits = LeaseLog.commitsByNode(log);
    assertThat(commits).hasSize(120).allSatisfy((node, holders) -> assertThat(holders).hasSize(1));
    assertThat(a.leases().leases()).allSatisfy(lease -> assertThat(lease.holder()).isNull());
  }

  @Test
  void aNodeTakenOverWhileItsRunReadIsLeftToItsNewHolderAndNotMarked() throws Exception {
    UsageRepo repo = seeded();
    SqliteLedger a = daemon("daemon-a");
    SqliteLedger b = daemon("daemon-b");
    CountingSource sourceA = source(repo, "a");
    // As if daemon-a froze reading edge-005 past its lease, and daemon-b claimed the node meanwhile.
    sourceA.beforeRead = file -> {
      if (file.path().startsWith("nodes/edge-005/")) {
        try (Connection c = DriverManager.getConnection(db.jdbcUrl(), db.user(), db.password());
            Statement st = c.createStatement()) {
          st.executeUpdate("UPDATE node_lease SET expires_at_ms = 0 WHERE node = 'edge-005'");
        } catch (SQLException e) {
          throw new IllegalStateException(e);
        }
        assertThat(b.leases().claim(List.of("edge-005")).epochs()).isEqualTo(Map.of("edge-005", 2L));
      }
    };

    RunSummary sa = aggregator(sourceA, a, clock).run(RunRequest.ALL);

    assertThat(consumed(sa)).hasSize(119).doesNotContain("edge-005");
    assertThat(sa.nodesSkipped()).isEqualTo(1);
    assertThat(sa.halted()).isEmpty();
    assertThat(count("SELECT count(*) FROM consumed_record")).isEqualTo(357);
    assertThat(a.nodeStore().runMark().fullTip()).as("a run that left a node to another covers nothing").isNull();

    b.leases().releaseAll();
    RunSummary sb = aggregator(source(repo, "b"), b, clock).run(RunRequest.ALL);
    assertThat(consumed(sb)).containsExactly("edge-005");
    assertThat(sb.nodesSkipped()).isEqualTo(119);
    assertThat(count("SELECT count(*) FROM consumed_record")).isEqualTo(360);
    assertThat(b.nodeStore().runMark().fullTip()).isEqualTo(repo.tip());
    assertThat(LeaseLog.violations(leaseLog())).isEmpty();
    assertThat(LeaseLog.commitsByNode(leaseLog()).get("edge-005")).containsExactly("daemon-b");
    assertThat(b.audit().verify()).isEmpty();
  }

  /**
   * A lease an earlier run left held (its give-back failed while the database restarted) is not
   * this run's: the run's renewals must let it lapse, or no daemon, this one included, ever takes
   * the node while this daemon's runs follow one another.
   */
  @Test
  void aRunRenewsOnlyTheLeasesItClaimedAndLetsOneLeftHeldBeforeLapse() throws Exception {
    UsageRepo repo = seeded();
    // Renewed every 2 s.
    SqliteLedger a = daemon("daemon-a", Duration.ofSeconds(6), SqliteLedger.DEFAULT_BUSY_TIMEOUT_MS);
    a.leases().claim(List.of("edge-100"));
    try (Connection c = jdbc(); Statement st = c.createStatement()) {
      // Held for another hour, whatever the run takes: nothing but a renewal moves it.
      st.executeUpdate("UPDATE node_lease SET expires_at_ms = expires_at_ms + 3600000 WHERE node = 'edge-100'");
    }
    long leftHeld = expiry("edge-100");
    CountingSource sourceA = source(repo, "a");
    long[] seen = new long[2];
    sourceA.beforeRead = file -> {
      if (file.path().startsWith("nodes/edge-050/")) {
        // Waits for the run's renewer to extend a lease the run claimed.
        long claimedUntil = expiry("edge-050");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (expiry("edge-050") == claimedUntil && System.nanoTime() < deadline) {
          java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(20));
        }
        seen[0] = expiry("edge-050") - claimedUntil;
        seen[1] = expiry("edge-100");
      }
    };

    RunSummary sa = aggregator(sourceA, a, clock).run(RunRequest.ALL);

    assertThat(seen[0]).as("the run renewed its own lease of edge-050").isPositive();
    assertThat(seen[1]).as("the lease left held by an earlier run is not renewed").isEqualTo(leftHeld);
    assertThat(consumed(sa)).hasSize(119).doesNotContain("edge-100");
  }

  /**
   * The leases' connection idle while PostgreSQL restarted (its backend ended, as a restart ends
   * it): the next run claims on a new connection, as the ledger's writer does, rather than fail.
   */
  @Test
  void aRunAfterTheLeasesConnectionWasLostClaimsOnANewOne() throws Exception {
    UsageRepo repo = seeded();
    SqliteLedger a = daemon("daemon-a");
    Aggregator runA = aggregator(source(repo, "a"), a, clock);
    assertThat(consumed(runA.run(RunRequest.ALL))).hasSize(120);
    repo.commit("nodes/edge-007/" + UsageRepo.HOUR_11, UsageRepo.batch(UsageRepo.record("edge-007-d", "user-1", 40)));
    try (Connection c = jdbc(); Statement st = c.createStatement()) {
      assertThat(count("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'meterd daemon-a'"))
          .isGreaterThanOrEqualTo(2);
      st.executeQuery("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
          + "WHERE application_name = 'meterd daemon-a'").close();
    }
    // The daemon idles between runs: its writer tests its connection before the next.
    clock.advance(Duration.ofSeconds(2));

    RunSummary next = runA.run(RunRequest.ALL);

    assertThat(consumed(next)).containsExactly("edge-007");
    assertThat(next.recordsConsumed()).isEqualTo(1);
    assertThat(count("SELECT count(*) FROM consumed_record")).isEqualTo(361);
  }

  /**
   * A claim the database refuses (here a lock another transaction holds past the lock timeout, as
   * the database going away would) ends the run with the database's error, as any failure of the
   * store outside a node's run: 503 and exit 3 "unavailable", not an internal error.
   */
  @Test
  void aClaimTheDatabaseRefusesEndsTheRunWithTheDatabasesError() throws Exception {
    UsageRepo repo = seeded();
    SqliteLedger a = daemon("daemon-a", Duration.ofMinutes(10), 1_000);
    try (Connection other = jdbc(); Statement st = other.createStatement()) {
      other.setAutoCommit(false);
      // Another daemon's claim of a node never claimed before, frozen before its COMMIT.
      st.executeUpdate("INSERT INTO node_lease (node, holder, epoch, expires_at_ms) VALUES ('edge-000', NULL, 0, 0)");

      org.assertj.core.api.Assertions.assertThatThrownBy(() -> aggregator(source(repo, "a"), a, clock)
              .run(RunRequest.ALL))
          .isInstanceOf(dev.meterd.ledger.LedgerException.class)
          .hasMessageStartingWith("cannot claim the leases of 32 nodes in the database " + db.jdbcUrl() + ": ERROR: "
              + "canceling statement due to lock timeout");
      other.rollback();
    }
    assertThat(count("SELECT count(*) FROM consumed_record")).isZero();
  }
}
