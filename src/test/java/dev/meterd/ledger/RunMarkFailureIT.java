package dev.meterd.ledger;

import static dev.meterd.testing.UsageRepo.HOUR_10;
import static dev.meterd.testing.UsageRepo.batch;
import static dev.meterd.testing.UsageRepo.record;
import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.batch.BatchParser;
import dev.meterd.engine.Aggregator;
import dev.meterd.engine.FaultInjector;
import dev.meterd.engine.RunRequest;
import dev.meterd.engine.RunSummary;
import dev.meterd.source.git.GitBatchSource;
import dev.meterd.testing.MutableClock;
import dev.meterd.testing.UsageRepo;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The run mark only saves work: when it cannot be written after the nodes committed, the run
 * still reports what it applied, and the next run looks at the nodes again.
 */
@ParameterizedClass
@EnumSource(LedgerEngine.class)
class RunMarkFailureIT {

  @Parameter
  LedgerEngine engine;

  @TempDir
  Path tmp;

  @Test
  void aRunWhoseMarkCannotBeWrittenStillReportsTheNodesItCommitted() throws Exception {
    MutableClock clock = new MutableClock(Instant.parse("2026-11-21T10:05:00Z"));
    TestDatabase db = engine.freshDatabase(tmp);
    try (UsageRepo repo = new UsageRepo(tmp.resolve("usage.git"));
        SqliteLedger ledger = db.open(clock, 100);
        GitBatchSource source = GitBatchSource.open(repo.dir().toString(), "main", tmp.resolve("clone"),
            Optional.empty());
        Connection other = db.jdbc();
        Statement st = other.createStatement()) {
      repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 7)));
      // Right after node A commits, another writer takes the lock and keeps it past the run.
      ledger.afterCommit(() -> {
        try {
          db.takeWriteLock(st);
        } catch (SQLException e) {
          throw new AssertionError(e);
        }
        ledger.afterCommit(() -> {});
      });
      Aggregator aggregator = new Aggregator(source, ledger, new BatchParser(BatchParser.Limits.DEFAULT), clock,
          FaultInjector.NONE);

      RunSummary s = aggregator.run(RunRequest.ALL);

      assertThat(s.recordsConsumed()).isEqualTo(1);
      assertThat(s.debitedCents()).isEqualTo(7);
      db.releaseWriteLock(st);
      assertThat(ledger.nodeStore().runMark().fullTip()).isNull();
      assertThat(ledger.reads().wallet("u1").orElseThrow().balanceCents()).isEqualTo(-7);
      RunSummary next = aggregator.run(RunRequest.ALL);
      assertThat(next.nodesSkipped()).isEqualTo(1);
      assertThat(ledger.nodeStore().runMark().fullTip()).isEqualTo(repo.tip());
    }
  }
}
