package dev.meterd.engine;

import static dev.meterd.testing.UsageRepo.HOUR_10;
import static dev.meterd.testing.UsageRepo.HOUR_11;
import static dev.meterd.testing.UsageRepo.batch;
import static dev.meterd.testing.UsageRepo.record;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meterd.batch.BatchParser;
import dev.meterd.ledger.LedgerEngine;
import dev.meterd.ledger.NodeError;
import dev.meterd.ledger.NodeState;
import dev.meterd.ledger.SqliteLedger;
import dev.meterd.ledger.TestDatabase;
import dev.meterd.ledger.Wallet;
import dev.meterd.source.git.GitBatchSource;
import dev.meterd.ledger.TxnType;
import dev.meterd.testing.CountingSource;
import dev.meterd.testing.MutableClock;
import dev.meterd.testing.UsageRepo;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** The aggregator over real git repositories (JGit, temp folders) and a real database of each engine. */
@ParameterizedClass
@EnumSource(LedgerEngine.class)
class AggregatorIT {

  @Parameter
  LedgerEngine engine;

  @TempDir
  Path tmp;

  private UsageRepo repo;
  private CountingSource source;
  private TestDatabase db;
  private SqliteLedger ledger;
  private final MutableClock clock = new MutableClock(Instant.parse("2026-11-21T10:05:00Z"));
  private FaultInjector faults = FaultInjector.NONE;

  @BeforeEach
  void setUp() throws Exception {
    repo = new UsageRepo(tmp.resolve("usage.git"));
    db = engine.freshDatabase(tmp);
    ledger = db.open(clock);
  }

  @AfterEach
  void tearDown() {
    if (source != null) {
      source.close();
    }
    ledger.close();
    repo.close();
  }

  /**
   * When a group of nodes commits: as by default, without the time bound (a loaded machine must
   * not split a group while the writer waits for the reader); a test of what one node's commit
   * means runs each node alone.
   */
  private GroupBounds groups = new GroupBounds(GroupBounds.DEFAULT.maxNodes(), GroupBounds.DEFAULT.maxRecords(),
      Duration.ofHours(1), GroupBounds.DEFAULT.readAhead());

  private RunSummary run() throws Exception {
    return run(RunRequest.ALL);
  }

  private RunSummary run(RunRequest request) throws Exception {
    return run(request, BatchParser.Limits.DEFAULT);
  }

  private RunSummary run(RunRequest request, BatchParser.Limits limits) throws Exception {
    if (source == null) {
      source = new CountingSource(GitBatchSource.open(repo.dir().toString(), "main", tmp.resolve("clone"),
          Optional.empty()));
    }
    clock.advance(Duration.ofMinutes(5));
    return new Aggregator(source, ledger, new BatchParser(limits), clock, faults, groups).run(request);
  }

  private long balance(String user) {
    return ledger.reads().wallet(user).map(Wallet::balanceCents).orElseThrow();
  }

  private long count(String sql) throws Exception {
    return db.number(sql);
  }

  private NodeState state(String node) {
    return ledger.reads().node(node).orElseThrow();
  }

  /**
   * A node resumed while a run is in flight is retried by the very next run, even at the same
   * branch tip: the run in flight must not record its mark over the resume.
   */
  @Test
  void aNodeResumedDuringARunIsRetriedByTheNextRunAtTheSameTip() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 1)), "nodes/X/" + HOUR_10, "not toml");
    assertThat(run().halted()).extracting(NodeOutcome.Halted::node).containsExactly("X");
    repo.commit("nodes/A/" + HOUR_11, batch(record("a2", "u1", 2)));
    source.beforeNextNode = () -> {
      try (SqliteLedger admin = db.open(clock)) {
        assertThat(admin.nodeStore().resume("X")).isPresent();
      }
    };
    RunSummary during = run();
    assertThat(during.recordsConsumed()).isEqualTo(1);
    source.reads.clear();

    RunSummary next = run();

    assertThat(source.reads).containsExactly("nodes/X/" + HOUR_10);
    assertThat(next.halted()).extracting(h -> h.node() + ": " + h.error().message())
        .containsExactly("X: not valid TOML: expected '=' after the key not");
  }

  /**
   * Parsed records are kept for the write up to a quarter of a file limit of bytes; the rest of a
   * large node is spooled to temporary files, parsed again from them under the lock (never read
   * from the source under it), consumed all the same, and the temporary files removed.
   */
  @Test
  void aNodeWithMoreChangedThanOneFileLimitIsSpooledAndConsumedWhole() throws Exception {
    String first = batch(record("a1", "u1", 1), record("a2", "u1", 2));
    repo.commit("nodes/A/usage_2026-11-21-09.toml", first,
        "nodes/A/" + HOUR_10, batch(record("a3", "u1", 4)),
        "nodes/A/" + HOUR_11, batch(record("a4", "u2", 8)));
    long limit = 4 * (first.getBytes(java.nio.charset.StandardCharsets.UTF_8).length + 10);

    Path spoolDir = Path.of(System.getProperty("java.io.tmpdir"));
    java.util.function.Supplier<Long> spooled = () -> {
      try (var files = java.nio.file.Files.list(spoolDir)) {
        return files.filter(f -> f.getFileName().toString().startsWith("meterd-spool-")).count();
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    };
    long spooledBefore = spooled.get();

    RunSummary summary = run(RunRequest.ALL, new BatchParser.Limits(limit, 1000));

    assertThat(summary.recordsConsumed()).isEqualTo(4);
    assertThat(summary.debitedCents()).isEqualTo(15);
    assertThat(balance("u1")).isEqualTo(-7);
    assertThat(balance("u2")).isEqualTo(-8);
    assertThat(source.reads).containsExactly("nodes/A/usage_2026-11-21-09.toml", "nodes/A/" + HOUR_10,
        "nodes/A/" + HOUR_11);
    assertThat(spooled.get()).isEqualTo(spooledBefore);
    assertThat(ledger.audit().verify()).isEmpty();
  }

  @Test
  void consumesEveryNodeAndDebitsEachWalletExactly() throws Exception {
    repo.seedTwoNodes();
    RunSummary s = run();
    assertThat(s.nodesTotal()).isEqualTo(2);
    assertThat(s.nodesConsumed()).isEqualTo(2);
    assertThat(s.recordsConsumed()).isEqualTo(4);
    assertThat(s.recordsDuplicate()).isZero();
    assertThat(s.debitedCents()).isEqualTo(135);
    assertThat(s.headSha()).isEqualTo(repo.tip());
    assertThat(balance("u1")).isEqualTo(-115);
    assertThat(balance("u2")).isEqualTo(-20);
    assertThat(ledger.reads().wallet("u1").orElseThrow().depleted()).isTrue();
    assertThat(count("SELECT count(*) FROM consumed_record")).isEqualTo(4);
    assertThat(count("SELECT count(*) FROM ledger_txn WHERE type = 'charge'")).isEqualTo(3);
    assertThat(state("A").lastCommitSha()).isEqualTo(repo.newestTouching("A"));
    assertThat(state("A").recordsConsumedTotal()).isEqualTo(3);
    assertThat(ledger.audit().verify()).isEmpty();
  }

  @Test
  void skipsEveryNodeWithoutReadingWhenTheTipIsUnchanged() throws Exception {
    repo.seedTwoNodes();
    run();
    int readsAfterFirst = source.reads.size();
    RunSummary s = run();
    assertThat(s.nodesSkipped()).isEqualTo(2);
    assertThat(s.nodesTotal()).isEqualTo(2);
    assertThat(s.recordsConsumed()).isZero();
    assertThat(source.reads).hasSize(readsAfterFirst);
  }

  @Test
  void readsOnlyTheChangedNodeAndOnlyItsChangedFiles() throws Exception {
    repo.commit(
        "nodes/A/" + HOUR_10, batch(record("a1", "u1", 10)),
        "nodes/B/" + HOUR_10, batch(record("b1", "u1", 100)));
    run();
    source.reads.clear();
    repo.commit("nodes/A/" + HOUR_11, batch(record("a2", "u1", 7)));
    RunSummary s = run();
    assertThat(source.reads).containsExactly("nodes/A/" + HOUR_11);
    assertThat(s.nodesSkipped()).isEqualTo(1);
    assertThat(s.nodesConsumed()).isEqualTo(1);
    assertThat(s.recordsConsumed()).isEqualTo(1);
    assertThat(balance("u1")).isEqualTo(-117);
    assertThat(state("A").lastCommitSha()).isEqualTo(repo.newestTouching("A"));
    assertThat(state("B").lastCommitSha()).isEqualTo(repo.newestTouching("B"));
  }

  @Test
  void aGrownFileChargesOnlyItsNewRecordsAndCountsTheRestAsDuplicates() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 10), record("a2", "u1", 20)));
    run();
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 10), record("a2", "u1", 20), record("a3", "u1", 3)));
    RunSummary s = run();
    assertThat(s.recordsConsumed()).isEqualTo(1);
    assertThat(s.recordsDuplicate()).isEqualTo(2);
    assertThat(s.debitedCents()).isEqualTo(3);
    assertThat(balance("u1")).isEqualTo(-33);
    assertThat(ledger.audit().verify()).isEmpty();
  }

  @Test
  void aKeySeenTwiceInOneRunIsConsumedOnce() throws Exception {
    repo.commit(
        "nodes/A/" + HOUR_10, batch(record("k", "u1", 10)),
        "nodes/A/" + HOUR_11, batch(record("k", "u1", 10), record("k2", "u1", 1)));
    RunSummary s = run();
    assertThat(s.recordsConsumed()).isEqualTo(2);
    assertThat(s.recordsDuplicate()).isEqualTo(1);
    assertThat(balance("u1")).isEqualTo(-11);
  }

  @Test
  void keysAreScopedPerNode() throws Exception {
    repo.commit(
        "nodes/A/" + HOUR_10, batch(record("same", "u1", 10)),
        "nodes/B/" + HOUR_10, batch(record("same", "u2", 99)));
    RunSummary s = run();
    assertThat(s.recordsConsumed()).isEqualTo(2);
    assertThat(s.halted()).isEmpty();
    assertThat(balance("u1")).isEqualTo(-10);
    assertThat(balance("u2")).isEqualTo(-99);
  }

  @Test
  void aConflictingRecordHaltsItsNodeWithNothingDebitedAndOtherNodesGoOn() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 10)));
    run();
    repo.commit(
        "nodes/A/" + HOUR_11, batch(record("a2", "u1", 5), record("a1", "u1", 11)),
        "nodes/B/" + HOUR_10, batch(record("b1", "u2", 7)));
    RunSummary s = run();
    assertThat(s.halted()).hasSize(1);
    NodeOutcome.Halted halted = s.halted().get(0);
    assertThat(halted.node()).isEqualTo("A");
    assertThat(halted.error()).isEqualTo(new NodeError(NodeError.Kind.CONTENT, "nodes/A/" + HOUR_11, 9,
        "idempotency_key \"a1\" was consumed with user_sid \"u1\" and cost_cents 10; this record has "
            + "user_sid \"u1\" and cost_cents 11"));
    assertThat(balance("u1")).isEqualTo(-10);
    assertThat(balance("u2")).isEqualTo(-7);
    assertThat(count("SELECT count(*) FROM consumed_record WHERE idempotency_key = 'a2'")).isZero();
    NodeState a = state("A");
    assertThat(a.halted()).isTrue();
    assertThat(a.haltedSince()).isNotNull();
    assertThat(a.error()).isEqualTo(halted.error());
    assertThat(a.recordsConsumedTotal()).isEqualTo(1);
    assertThat(ledger.audit().verify()).isEmpty();
  }

  @Test
  void aHaltedNodeStaysHaltedWithoutReadingUntilItsFolderChanges() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, "schema = 1\n[[records]]\ncost_cents = -5\n");
    repo.commit("nodes/B/" + HOUR_10, batch(record("b1", "u2", 7)));
    RunSummary first = run();
    assertThat(first.halted()).extracting(NodeOutcome::node).containsExactly("A");
    Instant haltedSince = state("A").haltedSince();

    repo.commit("nodes/B/" + HOUR_11, batch(record("b2", "u2", 1)));
    source.reads.clear();
    RunSummary second = run();
    assertThat(source.reads).containsExactly("nodes/B/" + HOUR_11);
    assertThat(second.halted()).extracting(NodeOutcome::node).containsExactly("A");
    assertThat(state("A").haltedSince()).isEqualTo(haltedSince);

    RunSummary unchangedTip = run();
    assertThat(unchangedTip.halted()).extracting(NodeOutcome::node).containsExactly("A");
    assertThat(unchangedTip.nodesTotal()).isEqualTo(2);

    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 4)));
    RunSummary fixed = run();
    assertThat(fixed.halted()).isEmpty();
    assertThat(fixed.recordsConsumed()).isEqualTo(1);
    assertThat(state("A").halted()).isFalse();
    assertThat(state("A").error()).isNull();
    assertThat(state("A").lastCommitSha()).isEqualTo(repo.newestTouching("A"));
  }

  @Test
  void resumeMakesTheNextRunRetryTheNode() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, "schema = 1\n[[records]]\ncost_cents = -5\n");
    run();
    assertThat(ledger.nodeStore().resume("A")).get().extracting(NodeState::halted).isEqualTo(false);
    assertThat(ledger.nodeStore().resume("nope")).isEmpty();
    source.reads.clear();
    RunSummary s = run();
    assertThat(source.reads).containsExactly("nodes/A/" + HOUR_10);
    assertThat(s.halted()).singleElement().satisfies(h -> assertThat(h.error().message())
        .isEqualTo("record is missing idempotency_key"));
  }

  @Test
  void aTransientErrorIsRetriedOnTheNextRunEvenWithAnUnchangedTip() throws Exception {
    repo.seedTwoNodes();
    run();
    repo.commit("nodes/A/" + HOUR_11, batch(record("a9", "u1", 1)));
    source.failingNodes.add("A");
    RunSummary failed = run();
    assertThat(failed.halted()).singleElement().satisfies(h -> {
      assertThat(h.error().kind()).isEqualTo(NodeError.Kind.TRANSIENT);
      assertThat(h.error().message()).isEqualTo("simulated I/O error reading nodes/A/" + HOUR_11);
    });
    assertThat(balance("u1")).isEqualTo(-115);
    source.failingNodes.clear();
    RunSummary retried = run();
    assertThat(retried.halted()).isEmpty();
    assertThat(retried.recordsConsumed()).isEqualTo(1);
    assertThat(balance("u1")).isEqualTo(-116);
  }

  /**
   * After a run that left a node unsettled (no mark), a force push that rewrote the commit of a
   * node whose files did not change still reaches that node: it is looked at, its cursor is
   * reported as no longer an ancestor, and its cursor moves to the rewritten commit.
   */
  @Test
  void aRewrittenCommitOfAnUnchangedNodeIsReportedAfterARunThatLeftNoMark() throws Exception {
    String base = repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 1)),
        "nodes/C/" + HOUR_10, batch(record("c1", "u1", 3)));
    String old = repo.commit("nodes/B/" + HOUR_10, batch(record("b1", "u1", 2)));
    source = new CountingSource(GitBatchSource.open(repo.dir().toString(), "main", tmp.resolve("clone"),
        Optional.empty()));
    source.failingNodes.add("C");
    assertThat(run().halted()).extracting(NodeOutcome.Halted::node).containsExactly("C");
    assertThat(ledger.nodeStore().runMark().fullTip()).isNull();
    source.failingNodes.clear();
    repo.committer().forceBranch(base);
    String rewritten = repo.commit("nodes/B/" + HOUR_10, batch(record("b1", "u1", 2)));

    RunSummary s = run();

    assertThat(s.recordsConsumed()).isEqualTo(1);
    assertThat(state("B").warning()).isEqualTo("cursor " + old + " is not an ancestor of the branch tip "
        + rewritten + " (history rewritten); records already consumed are not charged again");
    assertThat(state("B").lastCommitSha()).isEqualTo(rewritten).isEqualTo(repo.newestTouching("B"));
    assertThat(balance("u1")).isEqualTo(-6);
  }

  @Test
  void aNodeThatRunsOutOfHeapHaltsUntilTheNextRunAndTheNodesAfterItAreConsumed() throws Exception {
    repo.seedTwoNodes();
    run();
    repo.commit("nodes/A/" + HOUR_11, batch(record("a9", "u1", 1)), "nodes/B/" + HOUR_11, batch(record("b9", "u2", 7)));
    source.exhaustedNodes.add("A");
    RunSummary failed = run();
    assertThat(failed.halted()).singleElement().satisfies(h -> {
      assertThat(h.node()).isEqualTo("A");
      assertThat(h.error()).isEqualTo(new NodeError(NodeError.Kind.TRANSIENT, null, null,
          "ran out of heap reading the node's files (the JVM has " + (Runtime.getRuntime().maxMemory() >> 20)
              + " MiB); it is retried on the next run: if it happens again, start java with a larger -Xmx"));
    });
    assertThat(failed.nodesConsumed()).isEqualTo(1);
    assertThat(failed.recordsConsumed()).isEqualTo(1);
    assertThat(balance("u1")).isEqualTo(-115);
    assertThat(balance("u2")).isEqualTo(-27);
    source.exhaustedNodes.clear();
    RunSummary retried = run();
    assertThat(retried.halted()).isEmpty();
    assertThat(retried.recordsConsumed()).isEqualTo(1);
    assertThat(balance("u1")).isEqualTo(-116);
  }

  @Test
  void aForcePushChargesNothingTwiceAndWarns() throws Exception {
    String first = repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 10)));
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 10), record("a2", "u1", 20)));
    run();
    assertThat(balance("u1")).isEqualTo(-30);
    String rewound = repo.committer().parentOf(repo.tip());
    assertThat(rewound).isEqualTo(first);
    repo.committer().forceBranch(rewound);
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 10), record("a2", "u1", 20), record("a3", "u1", 1)));
    RunSummary s = run();
    assertThat(s.recordsConsumed()).isEqualTo(1);
    assertThat(s.recordsDuplicate()).isEqualTo(2);
    assertThat(balance("u1")).isEqualTo(-31);
    assertThat(state("A").warning()).contains("is not an ancestor of the branch tip");
    assertThat(state("A").lastCommitSha()).isEqualTo(repo.newestTouching("A"));
  }

  @Test
  void readsOtomlFilesLikeToml() throws Exception {
    repo.commit("nodes/A/usage_2026-11-21-09.otoml", batch(record("o1", "u1", 3)));
    RunSummary s = run();
    assertThat(s.recordsConsumed()).isEqualTo(1);
    assertThat(balance("u1")).isEqualTo(-3);
  }

  /**
   * A node's error may quote its file (here the node key, U+0000 written as a TOML escape), and
   * PostgreSQL's text cannot hold U+0000: the error keeps it as the escape, so that the halt is
   * recorded on either engine and the other nodes go on (on PostgreSQL the halt's write failed,
   * and with it every run).
   */
  @Test
  void anErrorQuotingU0000FromTheFileIsRecordedWithItEscapedAndTheOtherNodesAreConsumed() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, "schema = 1\nnode = \"A\\u0000\"\n",
        "nodes/B/" + HOUR_10, batch(record("b1", "u1", 7)));
    RunSummary s = run();
    NodeError error = new NodeError(NodeError.Kind.CONTENT, "nodes/A/" + HOUR_10, 2,
        "node is \"A\\u0000\" but the file is in the folder of node \"A\"");
    assertThat(s.halted()).containsExactly(new NodeOutcome.Halted("A", error));
    assertThat(state("A").error()).isEqualTo(error);
    assertThat(s.recordsConsumed()).isEqualTo(1);
    assertThat(balance("u1")).isEqualTo(-7);
  }

  /**
   * A record's resource cannot hold U+0000 (TOML writes it as an escape): PostgreSQL's text cannot
   * store it, and the group's commit failed there, with every node of the group, on every run. It
   * is a content error of its own node on either engine, and the rest of the group is consumed.
   */
  @Test
  void aResourceHoldingU0000IsAContentErrorOfItsNodeAndTheRestOfTheGroupIsConsumed() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 10) + "resource = \"gpu\\u0000\"\n"),
        "nodes/B/" + HOUR_10, batch(record("b1", "u2", 7)));
    RunSummary s = run();
    assertThat(s.halted()).containsExactly(new NodeOutcome.Halted("A", new NodeError(NodeError.Kind.CONTENT,
        "nodes/A/" + HOUR_10, 8, "resource must not contain U+0000, which the ledger cannot store")));
    assertThat(s.recordsConsumed()).isEqualTo(1);
    assertThat(balance("u2")).isEqualTo(-7);
    assertThat(ledger.reads().wallet("u1")).isEmpty();
    assertThat(ledger.audit().verify()).isEmpty();
  }

  @Test
  void countsAndSkipsEverythingThatIsNotANodeOrAUsageFile() throws Exception {
    repo.commit(
        "nodes/A/" + HOUR_10, batch(record("a1", "u1", 3)),
        "nodes/A/README.md", "notes",
        "nodes/A/sub/usage_2026-11-21-10.toml", batch(record("x", "u1", 1000)),
        "nodes/A/usage_2026-13-01-10.toml", batch(record("y", "u1", 1000)),
        "nodes/A/usage_2026-11-21-10.json", "{}",
        "nodes/.hidden/" + HOUR_10, batch(record("z", "u1", 1000)),
        "nodes/bad name/" + HOUR_10, batch(record("w", "u1", 1000)),
        "nodes/stray.toml", "x = 1",
        "README.md", "top level files are not under nodes/");
    RunSummary s = run();
    assertThat(s.nodesTotal()).isEqualTo(1);
    assertThat(s.ignored()).isEqualTo(7);
    assertThat(s.recordsConsumed()).isEqualTo(1);
    assertThat(balance("u1")).isEqualTo(-3);
  }

  @Test
  void aCrashBetweenTwoNodesKeepsTheFirstAndRedoesTheSecondOnce() throws Exception {
    repo.seedTwoNodes();
    groups = GroupBounds.ONE_NODE;
    faults = (point, node) -> {
      if (point == FaultInjector.Point.AFTER_NODE_COMMIT && node.equals("A")) {
        throw new SimulatedCrash();
      }
    };
    assertThatThrownBy(this::run).isInstanceOf(SimulatedCrash.class);
    assertThat(balance("u1")).isEqualTo(-15);
    assertThat(ledger.reads().wallet("u2").orElseThrow().balanceCents()).isEqualTo(-20);
    assertThat(count("SELECT count(*) FROM consumed_record c JOIN node n USING (node_id) WHERE n.name = 'B'")).isZero();

    faults = FaultInjector.NONE;
    source.reads.clear();
    RunSummary s = run();
    assertThat(source.reads).containsExactly("nodes/B/" + HOUR_10);
    assertThat(s.recordsConsumed()).isEqualTo(1);
    assertThat(s.nodesSkipped()).isEqualTo(1);
    assertThat(balance("u1")).isEqualTo(-115);
    assertThat(ledger.audit().verify()).isEmpty();
  }

  @Test
  void aCrashInsideAGroupKeepsNothingOfItAndTheNextRunAppliesItOnce() throws Exception {
    repo.seedTwoNodes();
    List<String> reached = new ArrayList<>();
    faults = (point, node) -> {
      reached.add(point + " " + node);
      if (point == FaultInjector.Point.AFTER_NODE_RELEASED && node.equals("B")) {
        throw new SimulatedCrash();
      }
    };
    assertThatThrownBy(this::run).isInstanceOf(SimulatedCrash.class);
    // A was applied in the group before B and the crash came before the group's commit: nothing of A stays.
    assertThat(reached).contains("AFTER_NODE_RELEASED A").doesNotContain("AFTER_NODE_COMMIT A");
    assertThat(count("SELECT count(*) FROM consumed_record")).isZero();
    assertThat(count("SELECT count(*) FROM ledger_txn")).isZero();
    assertThat(count("SELECT count(*) FROM node WHERE last_commit_sha IS NOT NULL")).isZero();

    faults = FaultInjector.NONE;
    RunSummary s = run();
    assertThat(s.recordsConsumed()).isEqualTo(4);
    assertThat(s.debitedCents()).isEqualTo(135);
    assertThat(balance("u1")).isEqualTo(-115);
    assertThat(ledger.audit().verify()).isEmpty();
  }

  @Test
  void aContentErrorInTheMiddleOfAGroupHaltsThatNodeAndTheOthersOfTheGroupAreConsumed() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 10)),
        "nodes/B/" + HOUR_10, batch(record("b1", "u1", 20)) + "cost_cents = \"twelve\"\n",
        "nodes/C/" + HOUR_10, batch(record("c1", "u2", 30)));
    List<String> reached = new ArrayList<>();
    faults = (point, node) -> reached.add(point + " " + node);
    RunSummary s = run();
    // One group: A and C were applied, then committed together, with B's halt between them.
    assertThat(reached).containsSubsequence("AFTER_NODE_RELEASED A", "AFTER_NODE_RELEASED C", "AFTER_NODE_COMMIT A",
        "AFTER_NODE_COMMIT C");
    NodeError error = new NodeError(NodeError.Kind.CONTENT, "nodes/B/" + HOUR_10, 8,
        "not valid TOML: duplicate key cost_cents");
    assertThat(s.halted()).containsExactly(new NodeOutcome.Halted("B", error));
    assertThat(ledger.reads().node("B").orElseThrow().error()).isEqualTo(error);
    assertThat(s.recordsConsumed()).isEqualTo(2);
    assertThat(balance("u1")).isEqualTo(-10);
    assertThat(ledger.reads().wallet("u2").orElseThrow().balanceCents()).isEqualTo(-30);
    assertThat(count("SELECT count(*) FROM consumed_record c JOIN node n USING (node_id) WHERE n.name = 'B'")).isZero();
    assertThat(ledger.audit().verify()).isEmpty();
  }

  /**
   * A run that dies in a group while the reader is stalled in a later node's read frees the write
   * lock at once, before it waits for the reader (review finding: it held it until the read ended).
   */
  @Test
  void aFailingGroupFreesTheWriteLockBeforeWaitingForTheReader() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 10)), "nodes/B/" + HOUR_10,
        batch(record("b1", "u1", 20)), "nodes/C/" + HOUR_10, batch(record("c1", "u2", 30)));
    source = new CountingSource(GitBatchSource.open(repo.dir().toString(), "main", tmp.resolve("clone"),
        Optional.empty()));
    source.stallingNode = "C";
    java.util.concurrent.CountDownLatch thrown = new java.util.concurrent.CountDownLatch(1);
    faults = (point, node) -> {
      if (point == FaultInjector.Point.AFTER_NODE_RELEASED && node.equals("B")) {
        thrown.countDown();
        throw new SimulatedCrash();
      }
    };
    java.util.concurrent.CompletableFuture<Throwable> crashed = new java.util.concurrent.CompletableFuture<>();
    Thread runner = new Thread(() -> {
      try {
        run();
        crashed.complete(null);
      } catch (Throwable e) {
        crashed.complete(e);
      }
    }, "aggregator-under-test");
    try (SqliteLedger other = db.open(clock, 5_000)) {
      runner.start();
      assertThat(source.stalled.await(60, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
      assertThat(thrown.await(60, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
      // B's crash comes while C's read is stalled; a grant on another connection must get the lock.
      // Its 5 s busy timeout is generous: the crashed group rolls back in milliseconds.
      other.walletStore().credit("u9", TxnType.GRANT, 5, "ops", null);
      assertThat(other.reads().wallet("u9").orElseThrow().balanceCents()).isEqualTo(5);
    } finally {
      source.release.countDown();
      runner.join(60_000);
    }
    assertThat(crashed.get(60, java.util.concurrent.TimeUnit.SECONDS)).isInstanceOf(SimulatedCrash.class);
    assertThat(count("SELECT count(*) FROM consumed_record")).isZero();
  }

  /**
   * A run interrupted before it reached every node records no run mark, so the next run at the
   * same tip applies the nodes it did not reach (review finding: it marked the tip settled).
   */
  @Test
  void anInterruptedRunLeavesTheNodesItDidNotReachToTheNextRun() throws Exception {
    seedFourNodes();
    source = new CountingSource(GitBatchSource.open(repo.dir().toString(), "main", tmp.resolve("clone"),
        Optional.empty()));
    source.stallingNode = "C";
    java.util.concurrent.CountDownLatch bApplied = new java.util.concurrent.CountDownLatch(1);
    faults = (point, node) -> {
      if (point == FaultInjector.Point.AFTER_NODE_RELEASED && node.equals("B")) {
        bApplied.countDown();
      }
    };
    java.util.concurrent.CompletableFuture<RunSummary> first = new java.util.concurrent.CompletableFuture<>();
    Thread runner = runner(first);
    runner.start();
    try {
      assertThat(bApplied.await(60, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
      runner.interrupt();
      // The stalled read ends (as a forge's at its timeout): the run's end waits for its reader.
      source.release.countDown();
      RunSummary interrupted = first.get(60, java.util.concurrent.TimeUnit.SECONDS);
      assertThat(interrupted.nodesConsumed()).isEqualTo(2);
    } finally {
      source.release.countDown();
      runner.join(60_000);
    }
    assertThat(ledger.nodeStore().runMark().fullTip()).isNull();

    faults = FaultInjector.NONE;
    source.stallingNode = null;
    RunSummary next = run();
    assertThat(next.recordsConsumed()).isEqualTo(2);
    assertThat(ledger.reads().wallet("u2").orElseThrow().balanceCents()).isEqualTo(-70);
    assertThat(ledger.audit().verify()).isEmpty();
  }

  /**
   * An interrupt that comes while the run waits for the next node, as the reader hands that node
   * over, stops the run before it. The queue may hand the node over with the interrupt pending
   * (an await signalled and interrupted at once returns normally, the interrupt kept), and the
   * run applied it: the race made the test above flaky. Here the reader interrupts the parked
   * writer just before it queues C, which makes that race likely rather than rare.
   */
  @Test
  void anInterruptThatComesAsTheNextNodeIsHandedOverStopsTheRunBeforeIt() throws Exception {
    seedFourNodes();
    java.util.concurrent.CountDownLatch bApplied = new java.util.concurrent.CountDownLatch(1);
    java.util.concurrent.CompletableFuture<RunSummary> first = new java.util.concurrent.CompletableFuture<>();
    Thread runner = runner(first);
    faults = (point, node) -> {
      if (point == FaultInjector.Point.AFTER_NODE_RELEASED && node.equals("B")) {
        bApplied.countDown();
      } else if (point == FaultInjector.Point.AFTER_PARSE && node.equals("C")) {
        // The reader's thread, C parsed and about to be queued: the writer, done with B, waits for it.
        awaitParkedAfter(bApplied, runner);
        runner.interrupt();
      }
    };
    runner.start();
    try {
      RunSummary interrupted = first.get(60, java.util.concurrent.TimeUnit.SECONDS);
      assertThat(interrupted.outcomes()).extracting(NodeOutcome::node).containsExactly("A", "B");
      assertThat(interrupted.nodesConsumed()).isEqualTo(2);
    } finally {
      runner.join(60_000);
    }
    assertThat(ledger.nodeStore().runMark().fullTip()).isNull();
    assertThat(count("SELECT count(*) FROM consumed_record")).isEqualTo(2);

    faults = FaultInjector.NONE;
    RunSummary next = run();
    assertThat(next.outcomes()).extracting(NodeOutcome::node).containsExactly("C", "D");
    assertThat(next.recordsConsumed()).isEqualTo(2);
    assertThat(ledger.reads().wallet("u2").orElseThrow().balanceCents()).isEqualTo(-70);
    assertThat(ledger.audit().verify()).isEmpty();
  }

  /**
   * Waits until {@code applied} is counted down and then until {@code writer} parks in its timed
   * wait for the next node (the only timed wait between a node's application and the next).
   */
  private static void awaitParkedAfter(java.util.concurrent.CountDownLatch applied, Thread writer) {
    long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(60);
    try {
      if (!applied.await(60, java.util.concurrent.TimeUnit.SECONDS)) {
        throw new AssertionError("the writer never applied the node before the one to hand over");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted while waiting for the writer", e);
    }
    while (writer.getState() != Thread.State.TIMED_WAITING) {
      if (System.nanoTime() - deadline > 0) {
        throw new AssertionError("the writer never waited for the next node; it is " + writer.getState());
      }
      Thread.yield();
    }
  }

  /** Nodes A to D, one record each: A and B charge u1 10 and 20 cents, C and D charge u2 30 and 40. */
  private void seedFourNodes() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 10)), "nodes/B/" + HOUR_10,
        batch(record("b1", "u1", 20)), "nodes/C/" + HOUR_10, batch(record("c1", "u2", 30)), "nodes/D/" + HOUR_10,
        batch(record("d1", "u2", 40)));
  }

  /** A thread that runs once when started, with its summary (or what it threw) in {@code result}. */
  private Thread runner(java.util.concurrent.CompletableFuture<RunSummary> result) {
    return new Thread(() -> {
      try {
        result.complete(run());
      } catch (Throwable e) {
        result.completeExceptionally(e);
      }
    }, "aggregator-under-test");
  }

  @Test
  void aCrashAfterParsingAppliesNothingOfTheNode() throws Exception {
    repo.seedTwoNodes();
    faults = (point, node) -> {
      if (point == FaultInjector.Point.AFTER_PARSE) {
        throw new SimulatedCrash();
      }
    };
    assertThatThrownBy(this::run).isInstanceOf(SimulatedCrash.class);
    assertThat(count("SELECT count(*) FROM consumed_record")).isZero();
    assertThat(count("SELECT count(*) FROM wallet")).isZero();
    faults = FaultInjector.NONE;
    assertThat(run().recordsConsumed()).isEqualTo(4);
    assertThat(ledger.audit().verify()).isEmpty();
  }

  @Test
  void aDryRunWritesNothing() throws Exception {
    repo.seedTwoNodes();
    RunSummary dry = run(new RunRequest(true, Set.of()));
    assertThat(dry.dryRun()).isTrue();
    assertThat(dry.recordsConsumed()).isEqualTo(4);
    assertThat(dry.debitedCents()).isEqualTo(135);
    assertThat(count("SELECT count(*) FROM consumed_record")).isZero();
    assertThat(count("SELECT count(*) FROM ledger_txn")).isZero();
    assertThat(count("SELECT count(*) FROM node WHERE last_commit_sha IS NOT NULL")).isZero();
    RunSummary real = run();
    assertThat(real.recordsConsumed()).isEqualTo(4);
  }

  @Test
  void aDryRunDoesNotRecordHalts() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, "not toml");
    RunSummary dry = run(new RunRequest(true, Set.of()));
    assertThat(dry.halted()).singleElement().satisfies(h -> assertThat(h.error().file()).isEqualTo("nodes/A/" + HOUR_10));
    assertThat(ledger.reads().node("A")).isEmpty();
  }

  @Test
  void runsOnlyTheNamedNodes() throws Exception {
    repo.seedTwoNodes();
    RunSummary s = run(new RunRequest(false, Set.of("B")));
    assertThat(s.nodesTotal()).isEqualTo(1);
    assertThat(s.recordsConsumed()).isEqualTo(1);
    assertThat(ledger.reads().node("A")).isEmpty();
    assertThatThrownBy(() -> run(new RunRequest(false, Set.of("nope"))))
        .isInstanceOf(UnknownNodeException.class)
        .hasMessageContaining("nodes/nope");
    RunSummary all = run();
    assertThat(all.recordsConsumed()).isEqualTo(3);
    assertThat(all.nodesSkipped()).isEqualTo(1);
  }

  @Test
  void lastCommitShaIsTheNewestCommitTouchingTheFolder() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 1)));
    repo.commit("nodes/B/" + HOUR_10, batch(record("b1", "u1", 1)));
    repo.commit("nodes/A/" + HOUR_11, batch(record("a2", "u1", 1)));
    repo.commit("nodes/C/" + HOUR_10, batch(record("c1", "u1", 1)));
    repo.commit("README.md", "unrelated");
    run();
    for (String node : new String[] {"A", "B", "C"}) {
      assertThat(state(node).lastCommitSha()).as(node).isEqualTo(repo.newestTouching(node));
    }
    repo.commit("nodes/B/" + HOUR_11, batch(record("b2", "u1", 1)));
    repo.commit("README.md", "unrelated again");
    run();
    for (String node : new String[] {"A", "B", "C"}) {
      assertThat(state(node).lastCommitSha()).as(node).isEqualTo(repo.newestTouching(node));
    }
  }

  @Test
  void aFolderChangedAndRevertedAdvancesItsCursorWithoutCharging() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 1)));
    run();
    repo.commit("nodes/A/" + HOUR_11, batch(record("tmp", "u1", 1)));
    repo.delete("nodes/A/" + HOUR_11);
    RunSummary s = run();
    assertThat(s.recordsConsumed()).isZero();
    assertThat(s.nodesConsumed()).isEqualTo(1);
    assertThat(state("A").lastCommitSha()).isEqualTo(repo.newestTouching("A"));
  }

  @Test
  void aDeletedFileChangesNothingAlreadyCharged() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 5)), "nodes/A/" + HOUR_11, batch(record("a2", "u1", 6)));
    run();
    repo.delete("nodes/A/" + HOUR_10);
    RunSummary s = run();
    assertThat(s.recordsConsumed()).isZero();
    assertThat(balance("u1")).isEqualTo(-11);
    assertThat(state("A").lastCommitSha()).isEqualTo(repo.newestTouching("A"));
  }

  @Test
  void aRunIsRefusedWhileAnotherHoldsTheLedgersRunLock() throws Exception {
    repo.seedTwoNodes();
    // On SQLite the lock keeps every other process off the file; on PostgreSQL it keeps a second
    // run of this process off (the timer's and an admin's), and other daemons share by leases.
    try (SqliteLedger other = db.open(clock);
        var lock = (engine == LedgerEngine.SQLITE ? other : ledger).tryLockRun().orElseThrow()) {
      assertThat(ledger.tryLockRun()).isEmpty();
      assertThatThrownBy(this::run).isInstanceOf(RunInProgressException.class)
          .hasMessage("an aggregation run is already in progress on this database; try again when it has finished");
      assertThat(ledger.reads().wallets()).isEmpty();
    }
    assertThat(run().recordsConsumed()).isEqualTo(4);
  }

  @Test
  void readsARepositoryByUrlThroughItsOwnClone() throws Exception {
    repo.seedTwoNodes();
    source = new CountingSource(GitBatchSource.open(repo.dir().toUri().toString(), "main", tmp.resolve("clone"),
        Optional.empty()));
    assertThat(run().recordsConsumed()).isEqualTo(4);
    repo.commit("nodes/A/" + HOUR_11, batch(record("a9", "u1", 1)));
    RunSummary s = run();
    assertThat(s.headSha()).isEqualTo(repo.tip());
    assertThat(s.recordsConsumed()).isEqualTo(1);
    assertThat(tmp.resolve("clone").resolve("HEAD")).exists();
  }

  /** Stands for a process dying at a fault point. */
  static final class SimulatedCrash extends Error {
    SimulatedCrash() {
      super("simulated crash", null, false, false);
    }
  }
}
