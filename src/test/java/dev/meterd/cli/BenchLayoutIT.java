package dev.meterd.cli;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meterd.batch.BatchParser;
import dev.meterd.batch.UsageRecord;
import dev.meterd.cli.BenchRepo.Layout;
import dev.meterd.cli.BenchRepo.Shape;
import dev.meterd.cli.BenchRepo.UserPool;
import dev.meterd.source.git.RepoCommitter;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.eclipse.jgit.lib.Constants;
import org.eclipse.jgit.lib.Repository;
import org.eclipse.jgit.revwalk.RevCommit;
import org.eclipse.jgit.revwalk.RevWalk;
import org.eclipse.jgit.treewalk.TreeWalk;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bench --layout}: the three layouts of issue 12 have the shapes of the yardstick's
 * genrepo.py, checked on repositories with a hundredth of their nodes (each node exactly as in the
 * layout); the options that would change a layout are refused; {@code bench --source} measures a
 * repository it did not make, without writing into it.
 */
class BenchLayoutIT {

  @TempDir
  Path tmp;

  @Test
  void theLayoutsHaveTheShapesOfGenrepoWithoutHistoryCommits() {
    assertThat(Layout.A.shape()).isEqualTo(new Shape(1_000, 10, 100, 10, UserPool.PER_NODE, 1));
    assertThat(Layout.B.shape()).isEqualTo(new Shape(1_000, 10, 100, 1_000, UserPool.SHARED, 1));
    assertThat(Layout.C.shape()).isEqualTo(new Shape(10_000, 1, 100, 1_000, UserPool.SHARED, 1));
    assertThat(Layout.A.shape().describe())
        .isEqualTo("1000 nodes x 10 files x 100 records, 10 users of its own per node");
    assertThat(Layout.B.shape().describe())
        .isEqualTo("1000 nodes x 10 files x 100 records, 1000 users shared by every node");
    assertThat(Layout.C.shape().describe())
        .isEqualTo("10000 nodes x 1 file x 100 records, 1000 users shared by every node");
    assertThat(Layout.A.shape().totalRecords()).isEqualTo(1_000_000);
    assertThat(Layout.C.shape().totalRecords()).isEqualTo(1_000_000);
    assertThatThrownBy(() -> Layout.A.scaledDown(3)).hasMessage(
        "layout A cannot be scaled down by 3: its 1000 nodes must divide by it");
  }

  @Test
  void layoutAGivesEveryNodeExactlyTenUsersOfItsOwn() throws Exception {
    Map<String, List<List<UsageRecord>>> nodes = generate(Layout.A.scaledDown(100));

    assertShape(nodes, 10, 10, 100);
    Set<String> everyone = new HashSet<>();
    for (int n = 0; n < 10; n++) {
      int first = n * 10;
      Set<String> own = IntStream.range(first, first + 10).mapToObj(u -> "u_" + u).collect(Collectors.toSet());
      assertThat(usersOf(nodes.get(BenchRepo.nodeName(n)))).as("node %d", n).isEqualTo(own);
      everyone.addAll(own);
    }
    assertThat(everyone).as("no two nodes share a user").hasSize(100);
  }

  @Test
  void layoutBDrawsEveryNodesUsersFromOnePoolOfAThousand() throws Exception {
    Map<String, List<List<UsageRecord>>> nodes = generate(Layout.B.scaledDown(100));

    assertShape(nodes, 10, 10, 100);
    assertDrawnFromTheSharedThousand(nodes);
  }

  @Test
  void layoutCHasTenThousandNodesOfOneFileDrawingFromOnePoolOfAThousand() throws Exception {
    Map<String, List<List<UsageRecord>>> nodes = generate(Layout.C.scaledDown(100));

    assertShape(nodes, 100, 1, 100);
    assertDrawnFromTheSharedThousand(nodes);
  }

  @Test
  void recordsAreDrawnAsGenrepoDrawsThem() throws Exception {
    Map<String, List<List<UsageRecord>>> nodes = generate(Layout.B.scaledDown(100));

    Set<String> keys = new HashSet<>();
    for (List<List<UsageRecord>> files : nodes.values()) {
      for (int f = 0; f < files.size(); f++) {
        Instant hour = BenchRepo.FIRST_HOUR.plus(Duration.ofHours(f));
        for (UsageRecord r : files.get(f)) {
          UUID key = UUID.fromString(r.idempotencyKey());
          assertThat(key.version()).isEqualTo(4);
          assertThat(key.variant()).isEqualTo(2);
          assertThat(key.toString()).isEqualTo(r.idempotencyKey());
          keys.add(r.idempotencyKey());
          assertThat(r.costCents()).isBetween(1L, 499L);
          assertThat(r.quantity()).isBetween(1L, 999L);
          assertThat(r.resource()).isEqualTo("llm.tokens");
          assertThat(r.occurredAt()).isBetween(hour, hour.plusSeconds(3599));
        }
      }
    }
    assertThat(keys).hasSize(10_000);
  }

  @Test
  void aLayoutRefusesTheOptionsThatWouldChangeItsShape() {
    CliRun run = CliRun.on(tmp.resolve("b.db"), "bench", "--layout", "A", "--nodes", "10", "--users", "5");

    assertThat(run.code()).isEqualTo(2);
    assertThat(run.out()).isEmpty();
    assertThat(run.err().strip()).isEqualTo(
        "meterd: bench --layout A fixes the repository's shape; leave out --nodes and --users, or leave out --layout");
    CliRun commits = CliRun.on(tmp.resolve("b.db"), "bench", "--records", "5", "--layout", "C", "--files", "1",
        "--commits", "3");
    assertThat(commits.code()).isEqualTo(2);
    assertThat(commits.err().strip()).isEqualTo("meterd: bench --layout C fixes the repository's shape; leave out "
        + "--files, --records and --commits, or leave out --layout");
  }

  @Test
  void anUnknownLayoutIsAUsageError() {
    CliRun run = CliRun.on(tmp.resolve("b.db"), "bench", "--layout", "D");

    assertThat(run.code()).isEqualTo(2);
    assertThat(run.err()).contains("Invalid value for option '--layout': expected one of [A, B, C] (case-sensitive) "
        + "but was 'D'");
  }

  @Test
  void sourceRefusesTheOptionsOfAGeneratedRepository() {
    CliRun run = CliRun.on(tmp.resolve("b.db"), "bench", "--source", tmp.resolve("r.git").toString(),
        "--records", "5");

    assertThat(run.code()).isEqualTo(2);
    assertThat(run.err().strip()).isEqualTo(
        "meterd: bench --source measures the repository as it is; leave out --records, or leave out --source");
  }

  @Test
  void sourceMeasuresARepositoryItDidNotMakeAndLeavesItAsItWas() throws Exception {
    Path repoDir = tmp.resolve("r.git");
    String tip = generateInto(repoDir, Layout.A.scaledDown(100));

    CliRun run = CliRun.on(tmp.resolve("b.db"), "bench", "--source", repoDir.toString(), "--polls", "2");

    assertThat(run.code()).as(run.err()).isEqualTo(0);
    List<String> lines = run.out().lines().toList();
    assertThat(lines.get(0)).isEqualTo("repository " + repoDir + " as it is, branch main");
    assertThat(lines.get(1)).startsWith("machine: ");
    assertThat(lines.get(2)).startsWith("full run: 10000 records in ");
    // Linux keeps each thread's CPU time, which says where the run's went.
    assertThat(lines.get(3)).matches("full run CPU: \\d+\\.\\d s on \\d+ cores in \\d+\\.\\d\\d s: the writer \\d+\\.\\d s, "
        + "JIT compilers \\d+\\.\\d s, garbage collector \\d+\\.\\d s, read-ahead and the rest \\d+\\.\\d s");
    assertThat(lines.get(4)).startsWith("no-change poll of 10 nodes: median ").endsWith(" (2 polls)");
    assertThat(lines.get(5))
        .isEqualTo("poll where 10 nodes changed: not measured, bench does not write into a --source repository");
    assertThat(lines.get(6)).startsWith("verify: 0 violations in ");
    assertThat(lines.get(7)).startsWith("verify --replay: 10000 records replayed from history, 0 violations, in ");
    assertThat(lines).hasSize(8);
    try (RepoCommitter repo = RepoCommitter.initBare(repoDir, "main")) {
      assertThat(repo.repository().resolve(Constants.R_HEADS + "main").name()).isEqualTo(tip);
    }
  }

  @Test
  void sourceWithALayoutRefusesARepositoryOfAnotherShape() throws Exception {
    Path repoDir = tmp.resolve("r.git");
    generateInto(repoDir, Layout.A.scaledDown(100));

    CliRun run = CliRun.on(tmp.resolve("b.db"), "bench", "--layout", "A", "--source", repoDir.toString(),
        "--polls", "1");

    assertThat(run.code()).isEqualTo(2);
    assertThat(run.out().lines().findFirst()).hasValue("repository " + repoDir
        + " as it is, branch main, checked to be layout A: 1000 nodes x 10 files x 100 records, "
        + "10 users of its own per node");
    assertThat(run.err().strip()).isEqualTo("meterd: the repository " + repoDir + " is not layout A: its full run "
        + "consumed 10000 records of 10 nodes, layout A has 1000000 records of 1000 nodes; make it with "
        + "shared/limits/genrepo.py as its README says, or leave out --layout");
  }

  @Test
  void sourceRefusesARepositoryWhoseFullRunHaltsANode() throws Exception {
    Path repoDir = tmp.resolve("r.git");
    try (RepoCommitter repo = RepoCommitter.initBare(repoDir, "main")) {
      repo.commit("bad", Map.of("nodes/edge-1/usage_2026-11-21-10.toml", "schema = 2\n".getBytes(UTF_8)),
          Set.of(), BenchRepo.FIRST_HOUR);
    }

    CliRun run = CliRun.on(tmp.resolve("b.db"), "bench", "--source", repoDir.toString(), "--polls", "1");

    assertThat(run.code()).isEqualTo(2);
    assertThat(run.err().strip()).isEqualTo("meterd: the full run of " + repoDir + " halted 1 node(s), first edge-1 in "
        + "nodes/edge-1/usage_2026-11-21-10.toml: schema must be 1, got 2 (this meterd reads wire format version 1); bench measures only a repository whose every record is consumed");
  }

  /** Generates {@code shape} and reads it back: each node's files, in hour order, parsed. */
  private Map<String, List<List<UsageRecord>>> generate(Shape shape) throws Exception {
    Path dir = tmp.resolve("g.git");
    generateInto(dir, shape);
    try (RepoCommitter repo = RepoCommitter.initBare(dir, "main")) {
      return readBack(repo.repository());
    }
  }

  /** Generates {@code shape} as bench does; returns the tip, checked to be the one commit. */
  private static String generateInto(Path dir, Shape shape) throws Exception {
    try (RepoCommitter repo = RepoCommitter.initBare(dir, "main")) {
      new BenchRepo(shape, new Random(42)).generate(repo);
      String tip = repo.repository().resolve(Constants.R_HEADS + "main").name();
      assertThat(repo.parentOf(tip)).as("one commit holds every file").isNull();
      return tip;
    }
  }

  private static Map<String, List<List<UsageRecord>>> readBack(Repository repo) throws Exception {
    BatchParser parser = new BatchParser(BatchParser.Limits.DEFAULT);
    Map<String, List<List<UsageRecord>>> nodes = new TreeMap<>();
    try (RevWalk walk = new RevWalk(repo); TreeWalk tw = new TreeWalk(repo)) {
      RevCommit tip = walk.parseCommit(repo.resolve(Constants.R_HEADS + "main"));
      tw.addTree(tip.getTree());
      tw.setRecursive(true);
      while (tw.next()) {
        String[] parts = tw.getPathString().split("/");
        assertThat(parts).hasSize(3);
        assertThat(parts[0]).isEqualTo("nodes");
        byte[] content = repo.open(tw.getObjectId(0)).getBytes();
        nodes.computeIfAbsent(parts[1], n -> new ArrayList<>())
            .add(parser.parse(tw.getPathString(), parts[1], content).records());
      }
    }
    return nodes;
  }

  private static void assertShape(Map<String, List<List<UsageRecord>>> nodes, int nodeCount, int files,
      int records) {
    assertThat(nodes.keySet()).containsExactlyElementsOf(
        IntStream.range(0, nodeCount).mapToObj(BenchRepo::nodeName).toList());
    for (Map.Entry<String, List<List<UsageRecord>>> node : nodes.entrySet()) {
      assertThat(node.getValue()).as("files of %s", node.getKey()).hasSize(files);
      for (List<UsageRecord> file : node.getValue()) {
        assertThat(file).as("records of a file of %s", node.getKey()).hasSize(records);
      }
    }
  }

  /**
   * Every user is one of u_0 to u_999, the draws cover the whole pool, and every node shares users
   * with the next one.
   */
  private static void assertDrawnFromTheSharedThousand(Map<String, List<List<UsageRecord>>> nodes) {
    Set<String> pool = IntStream.range(0, 1000).mapToObj(u -> "u_" + u).collect(Collectors.toSet());
    Set<String> everyone = new HashSet<>();
    List<Set<String>> perNode = nodes.values().stream().map(BenchLayoutIT::usersOf).toList();
    for (int n = 0; n < perNode.size(); n++) {
      assertThat(pool).containsAll(perNode.get(n));
      assertThat(perNode.get(n)).as("node %d draws from more than 10 users", n).hasSizeGreaterThan(10);
      if (n > 0) {
        assertThat(perNode.get(n)).as("nodes %d and %d share users", n - 1, n).containsAnyElementsOf(perNode.get(n - 1));
      }
      everyone.addAll(perNode.get(n));
    }
    assertThat(everyone).isEqualTo(pool);
  }

  private static Set<String> usersOf(List<List<UsageRecord>> files) {
    return files.stream().flatMap(List::stream).map(UsageRecord::userSid).collect(Collectors.toSet());
  }
}
