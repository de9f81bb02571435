package dev.meterd.cli;

import static dev.meterd.testing.UsageRepo.HOUR_10;
import static dev.meterd.testing.UsageRepo.HOUR_11;
import static dev.meterd.testing.UsageRepo.batch;
import static dev.meterd.testing.UsageRepo.record;
import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.engine.FaultInjector;
import dev.meterd.ledger.LedgerAudit;
import dev.meterd.ledger.LedgerEngine;
import dev.meterd.ledger.SqliteLedger;
import dev.meterd.ledger.TestDatabase;
import dev.meterd.ledger.Wallet;
import dev.meterd.testing.LeaseLog;
import dev.meterd.testing.UsageRepo;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The jar killed as by a power cut (at each named fault point, and with SIGKILL at random
 * moments), then run again: the ledger ends exactly as a clean run leaves it, and verify holds,
 * on each engine.
 */
@ParameterizedClass
@EnumSource(LedgerEngine.class)
class CrashIT {

  @Parameter
  LedgerEngine engine;

  @TempDir
  Path tmp;

  private Path marker() {
    return tmp.resolve("fault.marker");
  }

  /** Null: the default groups; else what the configuration's {@code [aggregator]} says. */
  private String aggregatorConfig;
  /** Null: the consumed-record index's default bounds; else the jar's {@code -Dmeterd.consumed_index}. */
  private String indexBounds;

  private Process start(Path repo, TestDatabase db, String fault) throws Exception {
    List<String> jvm = new ArrayList<>();
    if (indexBounds != null) {
      jvm.add("-Dmeterd.consumed_index=" + indexBounds);
    }
    if (fault != null) {
      jvm.add("-Dmeterd.fault=" + fault);
      jvm.add("-Dmeterd.fault.marker=" + marker());
    }
    Path config = MeterdJar.config(tmp.resolve("meterd.toml"), db,
        aggregatorConfig == null ? "" : "[aggregator]\n" + aggregatorConfig + "\n");
    return MeterdJar.process(MeterdJar.command(jvm, List.of("aggregate", "--once", "--config", config.toString(),
        "--source", repo.toString())), db, tmp.resolve("last.log")).start();
  }

  private int run(Path repo, TestDatabase db, String fault) throws Exception {
    Process p = start(repo, db, fault);
    assertThat(p.waitFor(180, TimeUnit.SECONDS)).isTrue();
    afterExit(p, db);
    return p.exitValue();
  }

  /**
   * What follows a killed process: on PostgreSQL its leases outlive it until their term runs out
   * (another daemon takes its nodes only then), and are made to lapse now; on SQLite its run lock
   * ended with it.
   */
  private static void afterExit(Process p, TestDatabase db) throws Exception {
    if (p.exitValue() == 137) {
      db.lapseLeasesOf(p.pid());
    }
  }

  /** Each wallet's balance and the consumed records (node, key, user, cost) of a database. */
  private static Map<String, Object> state(TestDatabase db) {
    Map<String, Object> state = new TreeMap<>();
    try (SqliteLedger ledger = db.open(Clock.systemUTC())) {
      for (Wallet w : ledger.reads().wallets()) {
        state.put("wallet " + w.userSid(), w.balanceCents());
      }
      for (String node : ledger.reads().nodes().keySet()) {
        List<LedgerAudit.Consumed> records = new ArrayList<>();
        ledger.audit().forEachConsumed(node, records::add);
        state.put("node " + node, records);
      }
      assertThat(ledger.audit().verify()).as("verify of " + db.where()).isEmpty();
    }
    return state;
  }

  /** How many records each node has consumed, read with plain SQL (no tables yet: none). */
  private static Map<String, Long> consumedPerNode(TestDatabase db) throws Exception {
    Map<String, Long> result = new TreeMap<>();
    try (Connection c = db.jdbc();
        Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT n.name, count(r.idempotency_key) FROM node n "
            + "LEFT JOIN consumed_record r ON r.node_id = n.node_id GROUP BY n.name")) {
      while (rs.next()) {
        result.put(rs.getString(1), rs.getLong(2));
      }
    } catch (SQLException e) {
      // SQLite's words, or PostgreSQL's undefined_table: the first run has not made the tables yet.
      if (!String.valueOf(e.getMessage()).contains("no such table") && !"42P01".equals(e.getSQLState())) {
        throw e;
      }
    }
    return result;
  }

  private long consumed(TestDatabase db) throws Exception {
    if (engine == LedgerEngine.SQLITE && !Files.exists(Path.of(db.where()))) {
      return 0;
    }
    return consumedPerNode(db).values().stream().mapToLong(Long::longValue).sum();
  }

  /**
   * As {@link #consumed}, for a database a run may be opening: on SQLite nothing is read before
   * the run has put it in WAL mode, where a reader never stands in a writer's way (nor the
   * reverse); PostgreSQL's readers never do.
   */
  private long consumedWhileRunning(TestDatabase db) throws Exception {
    return engine == LedgerEngine.SQLITE && !Files.exists(Path.of(db.where() + "-wal")) ? 0 : consumed(db);
  }

  private void seed(UsageRepo repo, int nodes, int records) throws Exception {
    List<String> files = new ArrayList<>();
    for (int n = 0; n < nodes; n++) {
      StringBuilder a = new StringBuilder();
      StringBuilder b = new StringBuilder();
      for (int r = 0; r < records; r++) {
        a.append(record("n" + n + "-" + r, "u" + (r % 5), 1 + r + n));
        b.append(record("n" + n + "-late-" + r, "u" + (r % 3), 2));
      }
      files.addAll(List.of("nodes/node-" + n + "/" + HOUR_10, batch(a.toString()),
          "nodes/node-" + n + "/" + HOUR_11, batch(b.toString())));
    }
    repo.commit(files.toArray(String[]::new));
  }

  /** Each node alone in its transaction: a kill loses at most the node it lands in. */
  @ParameterizedTest
  @EnumSource(FaultInjector.Point.class)
  void aKillAtAnyFaultPointIsRedoneExactlyOnce(FaultInjector.Point point) throws Exception {
    aggregatorConfig = "group_max_nodes = 1";
    // Nodes run in name order: node-0 committed, node-1 died inside its transaction (or, at
    // after-node-commit, just after it), node-2 never began. The reader parses ahead of the
    // writer, so a kill at node-1's parse may land before or after node-0's commit: node-0 is
    // then there whole or not at all.
    Map<String, Long> expected = point == FaultInjector.Point.AFTER_NODE_COMMIT
        ? Map.of("node-0", 8L, "node-1", 8L) : Map.of("node-0", 8L);
    assertThat(killAtNodeOneAndRedo(point)).as("what the killed run left")
        .isIn(point == FaultInjector.Point.AFTER_PARSE ? List.of(Map.of(), expected) : List.of(expected));
  }

  /**
   * With the default groups the three nodes are one group: a kill anywhere in node-1 comes after
   * node-0 was applied in the group and before the group's commit, so nothing of node-0 is left
   * either (the kill landed inside a group); the next run redoes the group exactly once.
   */
  @ParameterizedTest
  @EnumSource(FaultInjector.Point.class)
  void aKillInsideAGroupLosesTheGroupAndIsRedoneExactlyOnce(FaultInjector.Point point) throws Exception {
    // A long time bound (the most the default busy timeout allows): a loaded machine must not split
    // the group while the writer waits for the reader.
    aggregatorConfig = "group_max_ms = 5000";
    assertThat(killAtNodeOneAndRedo(point)).as("what the killed run left").isEqualTo(
        point == FaultInjector.Point.AFTER_NODE_COMMIT ? Map.of("node-0", 8L, "node-1", 8L, "node-2", 8L) : Map.of());
  }

  /**
   * Kills the jar at {@code point} of node-1 (of three), checks that the next run leaves the
   * ledger of a clean run, and returns what the killed run had left: records per node.
   */
  private Map<String, Long> killAtNodeOneAndRedo(FaultInjector.Point point) throws Exception {
    try (UsageRepo repo = new UsageRepo(tmp.resolve("usage.git"))) {
      seed(repo, 3, 4);
      TestDatabase reference = engine.freshDatabase(tmp, "reference");
      assertThat(run(repo.dir(), reference, null)).isZero();

      TestDatabase db = engine.freshDatabase(tmp, "crashed");
      String name = point.name().toLowerCase(Locale.ROOT).replace('_', '-');
      String fault = name + ":node-1";
      assertThat(run(repo.dir(), db, fault)).as("the process was killed at " + fault).isEqualTo(137);
      assertThat(marker()).as("the process reached " + fault + " before it died").hasContent(name + " node-1");
      Map<String, Long> left = consumedPerNode(db);
      assertThat(run(repo.dir(), db, null)).isZero();
      assertThat(state(db)).isEqualTo(state(reference));
      assertNoNodeRanUnderTwoClaims(db);
      return left;
    }
  }

  @Test
  void sigkillAtRandomMomentsLosesNothingAndChargesNothingTwice() throws Exception {
    // Groups of 500 records: the run commits 48 times, so the poll below sees it pass its random
    // threshold long before it ends. With the default groups (20,000 records) the run committed
    // twice, and on a loaded machine the poll could miss both commits and the run end unkilled.
    aggregatorConfig = "group_max_records = 500";
    try (UsageRepo repo = new UsageRepo(tmp.resolve("usage.git"))) {
      seed(repo, 300, 40);
      TestDatabase reference = engine.freshDatabase(tmp, "reference");
      assertThat(run(repo.dir(), reference, null)).isZero();

      TestDatabase db = engine.freshDatabase(tmp, "killed");
      long total = consumed(reference);
      Random random = new Random(20261122);
      List<Long> leftByKills = new ArrayList<>();
      for (int attempt = 0; attempt < 6; attempt++) {
        long before = consumed(db);
        // Kill once the run has committed a random share of what is left: never while the JVM
        // is still starting, and at whatever point of a node's transaction the signal lands.
        long threshold = before + 1 + (long) (random.nextDouble() * (total - before) / 2);
        Process p = start(repo.dir(), db, null);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
        while (!p.waitFor(20, TimeUnit.MILLISECONDS)) {
          assertThat(System.nanoTime()).as("the run reached " + threshold + " records in time").isLessThan(deadline);
          if (consumedWhileRunning(db) >= threshold) {
            p.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
            afterExit(p, db);
            if (p.exitValue() == 137) {
              leftByKills.add(consumed(db));
            }
            break;
          }
        }
      }
      assertThat(leftByKills).as("records consumed when each kill landed, of " + total).isNotEmpty()
          .allMatch(left -> left > 0);
      assertThat(run(repo.dir(), db, null)).isZero();
      assertThat(state(db)).isEqualTo(state(reference));
      assertNoNodeRanUnderTwoClaims(db);
    }
  }

  /**
   * SQLite's consumed-record index in levels, sealed and merged after every group (a newest level
   * of 50 records, merges of two segments in chunks of 10 records): the jar is killed while a
   * merge is in progress (seen in consumed_merge, and still there after the kill), then run
   * again until one lands so; the ledger ends as a clean run leaves it.
   */
  @Test
  void sigkillWhileTheIndexMergesLosesNothingAndChargesNothingTwice() throws Exception {
    org.junit.jupiter.api.Assumptions.assumeTrue(engine == LedgerEngine.SQLITE, "the index has levels on SQLite only");
    aggregatorConfig = "group_max_records = 500";
    indexBounds = "50,2,50";
    try (UsageRepo repo = new UsageRepo(tmp.resolve("usage.git"))) {
      seed(repo, 300, 40);
      TestDatabase db = engine.freshDatabase(tmp, "killed");
      int cutOff = 0;
      for (int attempt = 0; attempt < 20 && cutOff == 0; attempt++) {
        Process p = start(repo.dir(), db, null);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
        while (!p.waitFor(10, TimeUnit.MILLISECONDS)) {
          assertThat(System.nanoTime()).as("the run ended in time").isLessThan(deadline);
          if (Files.exists(Path.of(db.where() + "-wal")) && db.hasTable("consumed_merge")
              && db.number("SELECT count(*) FROM consumed_merge") > 0) {
            p.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
            break;
          }
        }
        if (p.exitValue() == 137 && db.number("SELECT count(*) FROM consumed_merge") > 0) {
          cutOff++;
        } else if (p.exitValue() == 0) {
          // The run ended before the poll saw a merge: more records for the next one.
          List<String> files = new ArrayList<>();
          for (int n = 0; n < 300; n++) {
            StringBuilder more = new StringBuilder();
            for (int r = 0; r < 10; r++) {
              more.append(record("n" + n + "-more" + attempt + "-" + r, "u" + (r % 4), 3));
            }
            files.addAll(List.of("nodes/node-" + n + "/" + String.format("usage_2026-11-22-%02d.toml", attempt),
                batch(more.toString())));
          }
          repo.commit(files.toArray(String[]::new));
        }
      }
      assertThat(cutOff).as("kills that cut off a merge").isEqualTo(1);
      assertThat(run(repo.dir(), db, null)).isZero();
      TestDatabase reference = engine.freshDatabase(tmp, "reference");
      assertThat(run(repo.dir(), reference, null)).isZero();
      assertThat(reference.number("SELECT count(*) FROM consumed_segment")).isPositive();
      assertThat(state(db)).isEqualTo(state(reference));
    }
  }

  /**
   * On PostgreSQL, the lease log proves that each node's writes, kills and takeovers included,
   * ran under one claim at a time. SQLite has no leases: its run lock keeps a second run off.
   */
  private void assertNoNodeRanUnderTwoClaims(TestDatabase db) throws Exception {
    if (engine == LedgerEngine.POSTGRES) {
      try (Connection c = db.jdbc()) {
        assertThat(LeaseLog.violations(LeaseLog.read(c))).isEmpty();
      }
    }
  }
}
