package dev.meterd.engine;

import static dev.meterd.testing.UsageRepo.HOUR_10;
import static dev.meterd.testing.UsageRepo.HOUR_11;
import static dev.meterd.testing.UsageRepo.batch;
import static dev.meterd.testing.UsageRepo.record;
import static dev.meterd.testing.LedgerContents.consumedKeys;
import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.batch.BatchParser;
import dev.meterd.ledger.Ledger;
import dev.meterd.ledger.LedgerEngine;
import dev.meterd.ledger.SqliteLedger;
import dev.meterd.ledger.TestDatabase;
import dev.meterd.source.BatchSource;
import dev.meterd.source.SourceException;
import dev.meterd.source.git.GitBatchSource;
import dev.meterd.testing.CountingSource;
import dev.meterd.testing.MutableClock;
import dev.meterd.testing.UsageRepo;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The replay of `verify --replay` against a ledger of each engine that another process keeps
 * writing. The scratch ledger is a SQLite file on both, as {@code verify --replay} makes it.
 */
@ParameterizedClass
@EnumSource(LedgerEngine.class)
class ReplayIT {

  @Parameter
  LedgerEngine engine;

  @TempDir
  Path tmp;

  private final MutableClock clock = new MutableClock(Instant.parse("2026-11-21T10:05:00Z"));
  private final BatchParser parser = new BatchParser(BatchParser.Limits.DEFAULT);
  private UsageRepo repo;
  private TestDatabase db;
  private SqliteLedger live;

  @BeforeEach
  void setUp() throws Exception {
    repo = new UsageRepo(tmp.resolve("usage.git"));
    db = engine.freshDatabase(tmp);
    live = db.open(clock);
  }

  @AfterEach
  void tearDown() {
    live.close();
    repo.close();
  }

  private BatchSource openSource() throws SourceException {
    return GitBatchSource.open(repo.dir().toString(), "main", tmp.resolve("clone"), Optional.empty());
  }

  /** One aggregation run as a second process would do it: its own source and its own connection. */
  private RunSummary aggregateElsewhere() throws SourceException {
    clock.advance(Duration.ofMinutes(5));
    try (BatchSource source = openSource();
        SqliteLedger other = db.open(clock)) {
      return new Aggregator(source, other, parser, clock, FaultInjector.NONE).run(RunRequest.ALL);
    }
  }

  @Test
  void aRunCommittedWhileTheReplayReadsRaisesNoFalseAlarm() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 10), record("a2", "u2", 20)),
        "nodes/B/" + HOUR_10, batch(record("b1", "u1", 100)));
    assertThat(aggregateElsewhere().recordsConsumed()).isEqualTo(3);
    repo.commit("nodes/A/" + HOUR_11, batch(record("a3", "u1", 5)));

    List<Long> consumedMidReplay = new ArrayList<>();
    try (CountingSource source = new CountingSource(openSource());
        SqliteLedger scratch = SqliteLedger.open(tmp.resolve("scratch.db"), clock)) {
      // The first file the replay reads is node A's: the replay has read A's charges and not yet
      // its consumed records, the moment a run committing A's new record must not show through.
      source.beforeRead = file -> {
        if (consumedMidReplay.isEmpty()) {
          consumedMidReplay.add(aggregateElsewhere().recordsConsumed());
        }
      };
      Replay replay = new Replay(source, live, scratch, parser);
      assertThat(replay.run()).isEmpty();
      assertThat(replay.recordsReplayed()).isEqualTo(3);
      assertThat(source.reads).containsExactly("nodes/A/" + HOUR_10, "nodes/B/" + HOUR_10);
    }
    assertThat(consumedMidReplay).containsExactly(1L);
    assertThat(consumedKeys(live, "A")).containsExactly("a1", "a2", "a3");

    try (BatchSource source = openSource();
        SqliteLedger scratch = SqliteLedger.open(tmp.resolve("scratch-after.db"), clock)) {
      Replay after = new Replay(source, live, scratch, parser);
      assertThat(after.run()).isEmpty();
      // Node A at its two charged commits (a1, a2; then a1, a2, a3) and node B once.
      assertThat(after.recordsReplayed()).isEqualTo(6);
    }
  }
}
