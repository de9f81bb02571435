package dev.meterd.testing;

import dev.meterd.source.git.RepoCommitter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import org.eclipse.jgit.api.Git;
import org.eclipse.jgit.api.errors.GitAPIException;
import org.eclipse.jgit.lib.Constants;
import org.eclipse.jgit.lib.ObjectId;
import org.eclipse.jgit.revwalk.RevCommit;
import org.eclipse.jgit.revwalk.RevWalk;
import org.eclipse.jgit.treewalk.filter.AndTreeFilter;
import org.eclipse.jgit.treewalk.filter.PathFilter;
import org.eclipse.jgit.treewalk.filter.TreeFilter;

/** A real bare git repository in a temp folder, written with JGit, for tests. */
public final class UsageRepo implements AutoCloseable {

  public static final String HOUR_10 = "usage_2026-11-21-10.toml";
  public static final String HOUR_11 = "usage_2026-11-21-11.toml";

  private final Path dir;
  private final RepoCommitter committer;
  private Instant clock = Instant.parse("2026-11-21T10:00:00Z");

  public UsageRepo(Path dir) throws IOException {
    this.dir = dir;
    this.committer = RepoCommitter.initBare(dir, "main");
  }

  public Path dir() {
    return dir;
  }

  public RepoCommitter committer() {
    return committer;
  }

  /** Commits files given as path, content, path, content... */
  public String commit(String... pathsAndContents) throws IOException {
    Map<String, byte[]> writes = new LinkedHashMap<>();
    for (int i = 0; i < pathsAndContents.length; i += 2) {
      writes.put(pathsAndContents[i], pathsAndContents[i + 1].getBytes(StandardCharsets.UTF_8));
    }
    clock = clock.plusSeconds(60);
    return committer.commit("test commit", writes, Set.of(), clock);
  }

  /** Node A with three records (u1: 10 and 5, u2: 20) and node B with one (u1: 100). */
  public String seedTwoNodes() throws IOException {
    return commit(
        "nodes/A/" + HOUR_10, batch(record("a1", "u1", 10), record("a2", "u2", 20), record("a3", "u1", 5)),
        "nodes/B/" + HOUR_10, batch(record("b1", "u1", 100)));
  }

  public String delete(String... paths) throws IOException {
    clock = clock.plusSeconds(60);
    return committer.commit("delete", Map.of(), Set.copyOf(Arrays.asList(paths)), clock);
  }

  /** A working clone of this repository, as an edge node keeps one, checked out at {@code dir}. */
  public Path cloneTo(Path dir) throws IOException {
    try (Git git = Git.cloneRepository().setURI(this.dir.toUri().toString()).setDirectory(dir.toFile()).call()) {
      return dir;
    } catch (GitAPIException e) {
      throw new IOException("cannot clone " + this.dir + " into " + dir + ": " + e.getMessage(), e);
    }
  }

  public String tip() throws IOException {
    return committer.repository().resolve(Constants.R_HEADS + "main").name();
  }

  /** What `git log -1 --format=%H main -- nodes/NODE` prints, the spec's definition. */
  public String newestTouching(String node) throws IOException {
    try (RevWalk walk = new RevWalk(committer.repository())) {
      walk.setTreeFilter(AndTreeFilter.create(PathFilter.create("nodes/" + node), TreeFilter.ANY_DIFF));
      walk.markStart(walk.parseCommit(ObjectId.fromString(tip())));
      RevCommit c = walk.next();
      return c == null ? null : c.name();
    }
  }

  /** A batch file's text with the given records. */
  public static String batch(String... records) {
    return "schema = 1\n" + String.join("", records);
  }

  public static String record(String key, String user, long costCents) {
    return record(key, user, costCents, "2026-11-21T10:00:03Z");
  }

  /** A record that occurred at {@code occurredAt}, an RFC 3339 date-time. */
  public static String record(String key, String user, long costCents, String occurredAt) {
    return "\n[[records]]\nidempotency_key = \"" + key + "\"\nuser_sid = \"" + user + "\"\ncost_cents = "
        + costCents + "\noccurred_at = " + occurredAt + "\n";
  }

  @Override
  public void close() {
    committer.close();
  }
}
