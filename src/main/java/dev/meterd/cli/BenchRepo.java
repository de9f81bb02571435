package dev.meterd.cli;

import dev.meterd.edge.BatchText;
import dev.meterd.source.git.RepoCommitter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.UUID;
import org.eclipse.jgit.lib.ObjectId;

/**
 * The synthetic usage repository that {@code bench} measures. Its records are drawn as the
 * yardstick's generator (shared/limits/genrepo.py) draws them, so that a layout measured here
 * and there is the same work: random UUID v4 keys, costs of 1 to 499 cents, quantities of 1 to
 * 999, each record at a random second of its file's hour.
 */
final class BenchRepo {

  /** The hour of every node's first file; file f holds the records of the f-th hour after it. */
  static final Instant FIRST_HOUR = Instant.parse("2026-11-21T00:00:00Z");

  /** Whose users a node's records are drawn from. */
  enum UserPool {
    /** Each node has users of its own, shared with no other node (genrepo.py without GENREPO_POOL). */
    PER_NODE,
    /** Every node draws from one pool (genrepo.py with GENREPO_POOL). */
    SHARED
  }

  /**
   * The shape of a generated repository.
   *
   * @param nodes node folders
   * @param files hour files per node
   * @param records records per file
   * @param users users of each node ({@link UserPool#PER_NODE}) or of the one pool ({@link UserPool#SHARED})
   * @param pool whose users a node's records are drawn from
   * @param commits how many commits the nodes are spread over, every file of a node in the same one
   */
  record Shape(int nodes, int files, int records, int users, UserPool pool, int commits) {

    long totalRecords() {
      return (long) nodes * files * records;
    }

    /** For example "1000 nodes x 10 files x 100 records, 1000 users shared by every node". */
    String describe() {
      return String.format("%d nodes x %d %s x %d records, %d users %s", nodes, files, files == 1 ? "file" : "files",
          records, users, pool == UserPool.SHARED ? "shared by every node" : "of its own per node");
    }
  }

  /**
   * The three layouts of issue 12 by name, the shapes genrepo.py makes (shared/limits/README.md):
   * one commit holds every file, as genrepo.py without history commits.
   */
  enum Layout {
    /** {@code genrepo.py OUT 1000 10 100}. */
    A(new Shape(1_000, 10, 100, 10, UserPool.PER_NODE, 1)),
    /** {@code GENREPO_POOL=1000 genrepo.py OUT 1000 10 100}. */
    B(new Shape(1_000, 10, 100, 1_000, UserPool.SHARED, 1)),
    /** {@code GENREPO_POOL=1000 genrepo.py OUT 10000 1 100}. */
    C(new Shape(10_000, 1, 100, 1_000, UserPool.SHARED, 1));

    private final Shape shape;

    Layout(Shape shape) {
      this.shape = shape;
    }

    Shape shape() {
      return shape;
    }

    /**
     * The layout with a {@code divisor}-th of its nodes, each node exactly as in the layout: its
     * files, records and users. Tests check a layout's shape on it without generating a million
     * records.
     */
    Shape scaledDown(int divisor) {
      if (divisor < 1 || shape.nodes() % divisor != 0) {
        throw new IllegalArgumentException("layout " + name() + " cannot be scaled down by " + divisor
            + ": its " + shape.nodes() + " nodes must divide by it");
      }
      return new Shape(shape.nodes() / divisor, shape.files(), shape.records(), shape.users(), shape.pool(),
          shape.commits());
    }
  }

  private final Shape shape;
  private final Random random;

  BenchRepo(Shape shape, Random random) {
    this.shape = shape;
    this.random = random;
  }

  static String nodeName(int n) {
    return String.format("edge-%05d", n);
  }

  /**
   * Commits every node's files, whole nodes per commit over {@code shape.commits()} commits. Each
   * file is stored as soon as it is made, so that one commit of a million records does not need
   * them all in memory (bench runs under -Xmx256m).
   */
  void generate(RepoCommitter repo) throws IOException {
    int perCommit = (shape.nodes() + shape.commits() - 1) / shape.commits();
    int commitNo = 0;
    for (int first = 0; first < shape.nodes(); first += perCommit) {
      Map<String, ObjectId> files = new LinkedHashMap<>();
      for (int n = first; n < Math.min(shape.nodes(), first + perCommit); n++) {
        for (int f = 0; f < shape.files(); f++) {
          Instant hour = FIRST_HOUR.plus(f, ChronoUnit.HOURS);
          files.put(BatchText.path(nodeName(n), hour), repo.insertBlob(bytes(batch(n, hour))));
        }
      }
      repo.commitBlobs("usage " + commitNo, files, Set.of(), FIRST_HOUR.plusSeconds(60L * commitNo++));
    }
  }

  /**
   * Commits a new hour file of {@code shape.records()} records for 10 nodes spread over the
   * repository, different ones each round.
   */
  void changeTenNodes(RepoCommitter repo, int round, int rounds) throws IOException {
    Map<String, byte[]> writes = new LinkedHashMap<>();
    Instant hour = Instant.parse("2026-11-22T00:00:00Z").plus(round, ChronoUnit.HOURS);
    for (int i = 0; i < 10; i++) {
      int n = ((round * 10 + i) * (shape.nodes() / 10 / Math.max(1, Math.min(rounds, 10))) % shape.nodes() + i)
          % shape.nodes();
      writes.put(BatchText.path(nodeName(n), hour), bytes(batch(n, hour)));
    }
    repo.commit("change 10 nodes " + round, writes, Set.of(), Instant.parse("2026-11-23T00:00:00Z").plusSeconds(round));
  }

  /** One file of node {@code node} for {@code hour}: {@code shape.records()} records. */
  String batch(int node, Instant hour) {
    StringBuilder sb = new StringBuilder(shape.records() * 180).append(BatchText.header(nodeName(node)));
    for (int r = 0; r < shape.records(); r++) {
      BatchText.record(sb, key(), user(node), 1 + random.nextInt(499), hour.plusSeconds(random.nextInt(3600)),
          "llm.tokens", 1L + random.nextInt(999));
    }
    return sb.toString();
  }

  /** A user of node {@code node}'s pool: its own users {@code u_<node * users>} and up, or the shared ones. */
  private String user(int node) {
    int u = random.nextInt(shape.users());
    return "u_" + (shape.pool() == UserPool.PER_NODE ? (long) node * shape.users() + u : u);
  }

  /** A random UUID version 4 (RFC 9562): 122 random bits, the version and the variant set. */
  private String key() {
    long msb = (random.nextLong() & ~0xF000L) | 0x4000L;
    long lsb = (random.nextLong() & 0x3FFF_FFFF_FFFF_FFFFL) | 0x8000_0000_0000_0000L;
    return new UUID(msb, lsb).toString();
  }

  private static byte[] bytes(String text) {
    return text.getBytes(StandardCharsets.UTF_8);
  }
}
