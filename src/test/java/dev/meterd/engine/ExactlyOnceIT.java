package dev.meterd.engine;

import static dev.meterd.testing.UsageRepo.HOUR_10;
import static dev.meterd.testing.UsageRepo.batch;
import static dev.meterd.testing.UsageRepo.record;
import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.batch.BatchParser;
import dev.meterd.ledger.LedgerEngine;
import dev.meterd.ledger.SqliteLedger;
import dev.meterd.ledger.TestDatabase;
import dev.meterd.ledger.Wallet;
import dev.meterd.source.BatchSource;
import dev.meterd.source.git.GitBatchSource;
import dev.meterd.testing.MutableClock;
import dev.meterd.testing.UsageRepo;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Two runs on one database past the run lock (a test-only switch): the consumed-record primary
 * key alone must keep every record charged once, on each engine.
 */
@ParameterizedClass
@EnumSource(LedgerEngine.class)
class ExactlyOnceIT {

  private static final int NODES = 5;
  private static final int RECORDS = 4;

  @Parameter
  LedgerEngine engine;

  @TempDir
  Path tmp;

  private final MutableClock clock = new MutableClock(Instant.parse("2026-11-21T10:05:00Z"));
  private final BatchParser parser = new BatchParser(BatchParser.Limits.DEFAULT);

  private BatchSource openSource(UsageRepo repo) throws Exception {
    return GitBatchSource.open(repo.dir().toString(), "main", tmp.resolve("clone"), Optional.empty());
  }

  @Test
  void aSecondRunPastTheRunLockChargesNothingTheFirstCharged() throws Exception {
    Map<String, Long> expected = new TreeMap<>();
    List<String> files = new ArrayList<>();
    for (int n = 0; n < NODES; n++) {
      StringBuilder records = new StringBuilder();
      for (int r = 0; r < RECORDS; r++) {
        String user = "u" + ((n + r) % 3);
        records.append(record("k" + n + "-" + r, user, 10 + n * RECORDS + r));
        expected.merge(user, -(10L + n * RECORDS + r), Long::sum);
      }
      files.addAll(List.of("nodes/n" + n + "/" + HOUR_10, batch(records.toString())));
    }
    List<RunSummary> second = new ArrayList<>();
    TestDatabase db = engine.freshDatabase(tmp);
    try (UsageRepo repo = new UsageRepo(tmp.resolve("usage.git"));
        BatchSource firstSource = openSource(repo);
        BatchSource secondSource = openSource(repo);
        SqliteLedger firstLedger = db.open(clock);
        SqliteLedger secondLedger = db.open(clock)) {
      repo.commit(files.toArray(String[]::new));
      // The first run read every node's cursor (none) before it began; once it has committed n0,
      // the second run, on its own connection and past the lock the first holds, applies n1..n4.
      // The first then goes on with what it read at its start and finds every record consumed.
      FaultInjector between = (point, node) -> {
        if (point == FaultInjector.Point.AFTER_NODE_COMMIT && node.equals("n0")) {
          System.setProperty(Aggregator.IGNORE_RUN_LOCK_PROPERTY, "true");
          try {
            second.add(new Aggregator(secondSource, secondLedger, parser, clock, FaultInjector.NONE)
                .run(RunRequest.ALL));
          } catch (Exception e) {
            throw new AssertionError("the second run failed: " + e, e);
          } finally {
            System.clearProperty(Aggregator.IGNORE_RUN_LOCK_PROPERTY);
          }
        }
      };
      // Each node its own transaction, so that the second run begins after n0's commit, not the group's.
      RunSummary first = new Aggregator(firstSource, firstLedger, parser, clock, between, GroupBounds.ONE_NODE)
          .run(RunRequest.ALL);

      assertThat(second).hasSize(1);
      assertThat(first.halted()).isEmpty();
      assertThat(second.get(0).halted()).isEmpty();
      assertThat(first.recordsConsumed()).isEqualTo(RECORDS);
      assertThat(first.recordsDuplicate()).isEqualTo((NODES - 1) * RECORDS);
      assertThat(second.get(0).recordsConsumed()).isEqualTo((NODES - 1) * RECORDS);
      assertThat(second.get(0).nodesSkipped()).isEqualTo(1);
      Map<String, Long> balances = new TreeMap<>();
      for (Wallet w : firstLedger.reads().wallets()) {
        balances.put(w.userSid(), w.balanceCents());
      }
      assertThat(balances).isEqualTo(expected);
      for (int n = 0; n < NODES; n++) {
        assertThat(firstLedger.reads().node("n" + n).orElseThrow().recordsConsumedTotal()).isEqualTo(RECORDS);
      }
      assertThat(firstLedger.audit().verify()).isEmpty();
    }
  }
}
