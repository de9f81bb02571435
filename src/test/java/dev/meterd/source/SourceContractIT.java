package dev.meterd.source;

import static dev.meterd.testing.UsageRepo.HOUR_10;
import static dev.meterd.testing.UsageRepo.HOUR_11;
import static dev.meterd.testing.UsageRepo.batch;
import static dev.meterd.testing.UsageRepo.record;
import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.admin.JsonViews;
import dev.meterd.batch.BatchParser;
import dev.meterd.engine.Aggregator;
import dev.meterd.engine.FaultInjector;
import dev.meterd.engine.Replay;
import dev.meterd.engine.RunRequest;
import dev.meterd.ledger.Ledger;
import dev.meterd.ledger.LedgerAudit;
import dev.meterd.ledger.LedgerTxn;
import dev.meterd.ledger.SqliteLedger;
import dev.meterd.ledger.TxnType;
import dev.meterd.source.forge.ForgeBatchSource;
import dev.meterd.source.forge.ForgeOptions;
import dev.meterd.source.git.GitBatchSource;
import dev.meterd.testing.FakeForge;
import dev.meterd.testing.MutableClock;
import dev.meterd.testing.UsageRepo;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import org.eclipse.jgit.api.Git;
import org.eclipse.jgit.lib.PersonIdent;
import org.eclipse.jgit.merge.MergeStrategy;
import org.eclipse.jgit.transport.RefSpec;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The contract every source keeps: the same scenarios, on one repository, run through the git
 * source and through the forge source (a Gitea API served from that repository, with pages of two
 * entries so that every listing spans pages), each into its own ledger under the same clock. After
 * every run the two summaries are identical, and at the end so are the ledgers: wallets,
 * transactions, consumed records, node states and cursors.
 */
class SourceContractIT {

  @TempDir
  Path tmp;

  private UsageRepo repo;
  private FakeForge forge;
  private GitBatchSource gitSource;
  private ForgeBatchSource forgeSource;
  private SqliteLedger gitLedger;
  private SqliteLedger forgeLedger;
  private final MutableClock clock = new MutableClock(Instant.parse("2026-11-21T10:05:00Z"));
  private final BatchParser parser = new BatchParser(BatchParser.Limits.DEFAULT);

  @BeforeEach
  void setUp() throws Exception {
    repo = new UsageRepo(tmp.resolve("usage.git"));
    forge = new FakeForge(repo.committer().repository());
    gitSource = GitBatchSource.open(repo.dir().toString(), "main", tmp.resolve("clone"), Optional.empty());
    forgeSource = ForgeBatchSource.open(forge.baseUrl(), FakeForge.OWNER, FakeForge.REPO, "main", Optional.empty(),
        ForgeOptions.DEFAULT.withPaging(1 << 20, 2, 2));
    gitLedger = SqliteLedger.open(tmp.resolve("git.db"), clock);
    forgeLedger = SqliteLedger.open(tmp.resolve("forge.db"), clock);
  }

  @AfterEach
  void tearDown() {
    forgeSource.close();
    gitSource.close();
    forgeLedger.close();
    gitLedger.close();
    forge.close();
    repo.close();
  }

  /** One run through each source; their summaries must be the same. Returns the summary. */
  private JsonObject run(RunRequest request) throws Exception {
    clock.advance(Duration.ofMinutes(5));
    JsonObject viaGit = comparable(new Aggregator(gitSource, gitLedger, parser, clock, FaultInjector.NONE)
        .run(request));
    JsonObject viaForge = comparable(new Aggregator(forgeSource, forgeLedger, parser, clock, FaultInjector.NONE)
        .run(request));
    assertThat(viaForge).as("the forge's run summary").isEqualTo(viaGit);
    return viaGit;
  }

  private JsonObject run() throws Exception {
    return run(RunRequest.ALL);
  }

  private static JsonObject comparable(dev.meterd.engine.RunSummary summary) {
    JsonObject json = JsonViews.summary(summary);
    json.remove("run_id");
    json.remove("duration_ms");
    return json;
  }

  /** Everything a ledger holds, as comparable values. */
  private static Map<String, Object> contents(Ledger ledger) {
    Map<String, Object> all = new TreeMap<>();
    all.put("wallets", ledger.reads().wallets());
    List<LedgerTxn> txns = ledger.reads().transactionPage(EnumSet.allOf(TxnType.class), Long.MAX_VALUE, 10_000);
    all.put("transactions", txns);
    all.put("nodes", ledger.reads().nodes());
    for (String node : ledger.reads().nodes().keySet()) {
      List<LedgerAudit.Consumed> records = new ArrayList<>();
      ledger.audit().forEachConsumed(node, records::add);
      all.put("consumed " + node, records);
    }
    all.put("violations", ledger.audit().verify());
    return all;
  }

  private void assertSameLedgers() {
    Map<String, Object> viaGit = contents(gitLedger);
    assertThat(contents(forgeLedger)).isEqualTo(viaGit);
    assertThat(viaGit.get("violations")).isEqualTo(List.of());
  }

  private String state(String node) {
    return gitLedger.reads().node(node).orElseThrow().toString();
  }

  @Test
  void newNodesThenAnUnchangedTip() throws Exception {
    repo.seedTwoNodes();
    JsonObject first = run();
    assertThat(first.getLong("records_consumed")).isEqualTo(4);
    assertThat(first.getLong("debited_cents")).isEqualTo(135);
    JsonObject again = run();
    assertThat(again.getLong("records_consumed")).isZero();
    assertThat(again.getInteger("nodes_skipped")).isEqualTo(2);
    assertSameLedgers();
  }

  @Test
  void onlyChangedNodesAndChangedFilesAreRead() throws Exception {
    repo.seedTwoNodes();
    run();
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 10), record("a2", "u2", 20), record("a3", "u1", 5),
        record("a4", "u3", 7)), "nodes/A/" + HOUR_11, batch(record("a5", "u3", 1)), "README.md", "notes");
    JsonObject s = run();
    assertThat(s.getLong("records_consumed")).isEqualTo(2);
    assertThat(s.getLong("records_duplicate")).isEqualTo(3);
    assertThat(s.getInteger("nodes_skipped")).isEqualTo(1);
    assertSameLedgers();
  }

  @Test
  void aContentErrorHaltsItsNodeUntilItsFolderChanges() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, "schema = 1\n[[records]\n", "nodes/B/" + HOUR_10, batch(record("b1", "u1", 1)));
    JsonObject halted = run();
    assertThat(halted.getJsonArray("halted").getJsonObject(0).getString("node")).isEqualTo("A");
    repo.commit("nodes/B/" + HOUR_11, batch(record("b2", "u1", 2)));
    assertThat(run().getInteger("nodes_halted")).isEqualTo(1);
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 3)));
    JsonObject fixed = run();
    assertThat(fixed.getInteger("nodes_halted")).isZero();
    assertThat(fixed.getLong("records_consumed")).isEqualTo(1);
    assertSameLedgers();
  }

  @Test
  void aConflictingRecordHaltsItsNode() throws Exception {
    repo.seedTwoNodes();
    run();
    repo.commit("nodes/B/" + HOUR_11, batch(record("b1", "u1", 999)));
    JsonObject s = run();
    assertThat(s.getJsonArray("halted").getJsonObject(0).getString("error")).contains("b1");
    assertSameLedgers();
  }

  @Test
  void aFolderChangedAndChangedBackMovesItsCursorOnly() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 1)), "nodes/B/" + HOUR_10, batch(record("b", "u", 1)));
    run();
    repo.commit("nodes/A/" + HOUR_11, batch(record("tmp", "u1", 1)));
    repo.delete("nodes/A/" + HOUR_11);
    repo.commit("README.md", "a commit outside nodes/ ends the range");
    JsonObject s = run();
    assertThat(s.getInteger("nodes_consumed")).isEqualTo(1);
    assertThat(s.getLong("records_consumed")).isZero();
    assertThat(gitLedger.reads().node("A").orElseThrow().lastCommitSha()).isEqualTo(repo.newestTouching("A"));
    assertSameLedgers();
  }

  @Test
  void aRewrittenHistoryChargesNothingTwiceAndWarns() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 10)), "nodes/B/" + HOUR_10, batch(record("b", "u", 1)));
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 10), record("a2", "u1", 20)));
    run();
    repo.committer().forceBranch(repo.committer().parentOf(repo.tip()));
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 10), record("a2", "u1", 20), record("a3", "u1", 1)));
    JsonObject s = run();
    assertThat(s.getLong("records_consumed")).isEqualTo(1);
    assertThat(s.getLong("records_duplicate")).isEqualTo(2);
    assertThat(state("A")).contains("is not an ancestor of the branch tip");
    assertSameLedgers();
  }

  @Test
  void everythingThatIsNotANodeOrAUsageFileIsCountedAndSkipped() throws Exception {
    repo.commit(
        "nodes/A/" + HOUR_10, batch(record("a1", "u1", 3)),
        "nodes/A/README.md", "notes",
        "nodes/A/sub/usage_2026-11-21-10.toml", batch(record("x", "u1", 1000)),
        "nodes/A/usage_2026-13-01-10.toml", batch(record("y", "u1", 1000)),
        "nodes/.hidden/" + HOUR_10, batch(record("z", "u1", 1000)),
        "nodes/bad name/" + HOUR_10, batch(record("w", "u1", 1000)),
        "nodes/stray.toml", "x = 1",
        "README.md", "top level files are not under nodes/");
    JsonObject s = run();
    assertThat(s.getInteger("ignored")).isEqualTo(6);
    assertThat(s.getLong("debited_cents")).isEqualTo(3);
    assertSameLedgers();
  }

  @Test
  void aDeletedFileChangesNothingAlreadyCharged() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 5)), "nodes/A/" + HOUR_11, batch(record("a2", "u1", 6)));
    run();
    repo.delete("nodes/A/" + HOUR_10);
    JsonObject s = run();
    assertThat(s.getInteger("nodes_consumed")).isEqualTo(1);
    assertThat(s.getLong("records_consumed")).isZero();
    assertSameLedgers();
  }

  @Test
  void namedNodesAndDryRuns() throws Exception {
    repo.seedTwoNodes();
    JsonObject dry = run(new RunRequest(true, Set.of()));
    assertThat(dry.getLong("records_consumed")).isEqualTo(4);
    JsonObject onlyB = run(new RunRequest(false, Set.of("B")));
    assertThat(onlyB.getLong("records_consumed")).isEqualTo(1);
    JsonObject rest = run();
    assertThat(rest.getLong("records_consumed")).isEqualTo(3);
    assertSameLedgers();
  }

  @Test
  void manyNodesAndCommitsAcrossPages() throws Exception {
    for (int c = 0; c < 4; c++) {
      List<String> files = new ArrayList<>();
      for (int n = 0; n < 7; n++) {
        if ((n + c) % 2 == 0) {
          files.add("nodes/n" + n + "/usage_2026-11-21-1" + c + ".toml");
          files.add(batch(record("k" + c, "u" + n, n + c + 1)));
        }
      }
      repo.commit(files.toArray(String[]::new));
    }
    JsonObject first = run();
    assertThat(first.getInteger("nodes_total")).isEqualTo(7);
    for (int c = 0; c < 5; c++) {
      repo.commit("nodes/n" + (c % 3) + "/usage_2026-11-22-0" + c + ".toml", batch(record("late" + c, "u9", 2)));
    }
    JsonObject second = run();
    assertThat(second.getInteger("nodes_consumed")).isEqualTo(3);
    assertThat(second.getLong("records_consumed")).isEqualTo(5);
    assertSameLedgers();
  }

  @Test
  void replayFindsTheSameThroughEitherSource() throws Exception {
    repo.seedTwoNodes();
    run();
    repo.commit("nodes/A/" + HOUR_11, batch(record("a9", "u1", 4)));
    run();
    try (SqliteLedger scratchGit = SqliteLedger.open(tmp.resolve("replay-git.db"), clock);
        SqliteLedger scratchForge = SqliteLedger.open(tmp.resolve("replay-forge.db"), clock)) {
      assertThat(new Replay(gitSource, gitLedger, scratchGit, parser).run()).isEmpty();
      assertThat(new Replay(forgeSource, forgeLedger, scratchForge, parser).run()).isEmpty();
      assertThat(contents(scratchForge)).isEqualTo(contents(scratchGit));
    }
    assertSameLedgers();
  }

  private int minute;

  /** Commits files in a work clone, at a time one minute after the last. */
  private void commitIn(Git git, String message, String... pathsAndContents) throws Exception {
    Path root = git.getRepository().getWorkTree().toPath();
    for (int i = 0; i < pathsAndContents.length; i += 2) {
      Path file = root.resolve(pathsAndContents[i]);
      java.nio.file.Files.createDirectories(file.getParent());
      java.nio.file.Files.writeString(file, pathsAndContents[i + 1]);
    }
    git.add().addFilepattern(".").call();
    PersonIdent who = new PersonIdent("edge", "edge@localhost", Instant.parse("2026-11-21T12:00:00Z")
        .plusSeconds(60L * ++minute), java.time.ZoneOffset.UTC);
    git.commit().setMessage(message).setAuthor(who).setCommitter(who).call();
  }

  /**
   * A side branch and main both move, then main merges the side branch: with {@code keepMain},
   * the merge keeps main's version of everything (the side's changes are discarded).
   */
  private void mergeScenario(boolean keepMain) throws Exception {
    repo.seedTwoNodes();
    run();
    try (Git git = Git.open(repo.cloneTo(tmp.resolve("work")).toFile())) {
      git.checkout().setCreateBranch(true).setName("side").call();
      commitIn(git, "side: A", "nodes/A/" + HOUR_11, batch(record("side-a", "u3", 7)));
      commitIn(git, "side: C", "nodes/C/" + HOUR_10, batch(record("side-c", "u3", 9)));
      git.checkout().setName("main").call();
      commitIn(git, "main: B", "nodes/B/" + HOUR_11, batch(record("main-b", "u4", 11)));
      commitIn(git, "main: A", "nodes/A/usage_2026-11-21-12.toml", batch(record("main-a", "u4", 13)));
      var merge = git.merge().include(git.getRepository().resolve("side")).setCommit(true)
          .setMessage("merge side").setStrategy(keepMain ? MergeStrategy.OURS : MergeStrategy.RECURSIVE).call();
      assertThat(merge.getMergeStatus().isSuccessful()).as(merge.toString()).isTrue();
      git.push().setRemote("origin").setRefSpecs(new RefSpec("main:main")).call();
    }
  }

  @Test
  void aMergedSideBranchIsReadLikeAnyOtherHistory() throws Exception {
    mergeScenario(false);
    JsonObject s = run();
    assertThat(s.getLong("records_consumed")).isEqualTo(4);
    for (String node : List.of("A", "B", "C")) {
      assertThat(gitLedger.reads().node(node).orElseThrow().lastCommitSha()).as(node).isEqualTo(repo.newestTouching(node));
    }
    assertSameLedgers();
  }

  @Test
  void aMergeThatDiscardsTheSideBranchChargesOnlyWhatTheTipHolds() throws Exception {
    mergeScenario(true);
    JsonObject s = run();
    assertThat(s.getLong("records_consumed")).isEqualTo(2);
    assertThat(s.getInteger("nodes_total")).isEqualTo(2);
    assertSameLedgers();
  }

  @Test
  void aFolderChangedAndChangedBackOnAMergedBranchKeepsTheSpecsNewestCommit() throws Exception {
    repo.seedTwoNodes();
    run();
    try (Git git = Git.open(repo.cloneTo(tmp.resolve("work")).toFile())) {
      git.checkout().setCreateBranch(true).setName("side").call();
      commitIn(git, "side: A grows", "nodes/A/" + HOUR_11, batch(record("tmp", "u3", 7)));
      git.rm().addFilepattern("nodes/A/" + HOUR_11).call();
      PersonIdent who = new PersonIdent("edge", "edge@localhost", Instant.parse("2026-11-21T12:00:00Z")
          .plusSeconds(60L * ++minute), java.time.ZoneOffset.UTC);
      git.commit().setMessage("side: A shrinks back").setAuthor(who).setCommitter(who).call();
      git.checkout().setName("main").call();
      commitIn(git, "main: B", "nodes/B/" + HOUR_11, batch(record("main-b", "u4", 11)));
      git.merge().include(git.getRepository().resolve("side")).setCommit(true).setMessage("merge side").call();
      git.push().setRemote("origin").setRefSpecs(new RefSpec("main:main")).call();
    }
    run();
    for (String node : List.of("A", "B")) {
      assertThat(gitLedger.reads().node(node).orElseThrow().lastCommitSha()).as(node).isEqualTo(repo.newestTouching(node));
    }
    assertSameLedgers();
  }
}
