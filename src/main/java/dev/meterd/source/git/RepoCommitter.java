package dev.meterd.source.git;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import org.eclipse.jgit.api.Git;
import org.eclipse.jgit.api.errors.GitAPIException;
import org.eclipse.jgit.dircache.DirCache;
import org.eclipse.jgit.dircache.DirCacheBuilder;
import org.eclipse.jgit.dircache.DirCacheEntry;
import org.eclipse.jgit.lib.CommitBuilder;
import org.eclipse.jgit.lib.Constants;
import org.eclipse.jgit.lib.FileMode;
import org.eclipse.jgit.lib.ObjectId;
import org.eclipse.jgit.lib.ObjectInserter;
import org.eclipse.jgit.lib.PersonIdent;
import org.eclipse.jgit.lib.RefUpdate;
import org.eclipse.jgit.lib.Repository;
import org.eclipse.jgit.revwalk.RevCommit;
import org.eclipse.jgit.revwalk.RevWalk;
import org.eclipse.jgit.treewalk.TreeWalk;

/**
 * Writes commits straight into a (bare) repository's object database, without a work tree:
 * for the demo repository, the benchmark's synthetic repositories and tests.
 */
public final class RepoCommitter implements AutoCloseable {

  private final Repository repo;
  private final String branch;

  private RepoCommitter(Repository repo, String branch) {
    this.repo = repo;
    this.branch = branch;
  }

  /** Creates a bare repository in {@code dir}, or opens the one there. */
  public static RepoCommitter initBare(Path dir, String branch) throws IOException {
    try {
      Repository repo = dir.resolve("HEAD").toFile().exists()
          ? Git.open(dir.toFile()).getRepository()
          : Git.init().setBare(true).setInitialBranch(branch).setDirectory(dir.toFile()).call().getRepository();
      return new RepoCommitter(repo, branch);
    } catch (GitAPIException e) {
      throw new IOException("cannot create a repository in " + dir + ": " + e.getMessage(), e);
    }
  }

  public Repository repository() {
    return repo;
  }

  /**
   * Commits on top of the branch tip: writes the given files (path to content) and deletes the
   * given paths.
   *
   * @return the new commit's sha
   */
  public String commit(String message, Map<String, byte[]> writes, Set<String> deletes, Instant when)
      throws IOException {
    Map<String, ObjectId> blobs = new LinkedHashMap<>();
    for (Map.Entry<String, byte[]> w : writes.entrySet()) {
      blobs.put(w.getKey(), insertBlob(w.getValue()));
    }
    return commitBlobs(message, blobs, deletes, when);
  }

  /**
   * Stores one file's content in the object database, for {@link #commitBlobs}: a commit of many
   * large files then need not hold all their contents in memory at once.
   */
  public ObjectId insertBlob(byte[] content) throws IOException {
    try (ObjectInserter inserter = repo.newObjectInserter()) {
      ObjectId id = inserter.insert(Constants.OBJ_BLOB, content);
      inserter.flush();
      return id;
    }
  }

  /**
   * As {@link #commit}, with the files' contents already stored by {@link #insertBlob}.
   *
   * @return the new commit's sha
   */
  public String commitBlobs(String message, Map<String, ObjectId> writes, Set<String> deletes, Instant when)
      throws IOException {
    ObjectId parent = repo.resolve(Constants.R_HEADS + branch);
    DirCache index = DirCache.newInCore();
    DirCacheBuilder builder = index.builder();
    try (ObjectInserter inserter = repo.newObjectInserter()) {
      if (parent != null) {
        keepUnchanged(builder, parent, writes.keySet(), deletes);
      }
      for (Map.Entry<String, ObjectId> w : writes.entrySet()) {
        DirCacheEntry entry = new DirCacheEntry(w.getKey());
        entry.setFileMode(FileMode.REGULAR_FILE);
        entry.setObjectId(w.getValue());
        builder.add(entry);
      }
      builder.finish();
      ObjectId tree = index.writeTree(inserter);
      PersonIdent ident = new PersonIdent("meterd", "meterd@localhost", when, ZoneOffset.UTC);
      CommitBuilder commit = new CommitBuilder();
      commit.setTreeId(tree);
      if (parent != null) {
        commit.setParentId(parent);
      }
      commit.setAuthor(ident);
      commit.setCommitter(ident);
      commit.setMessage(message);
      ObjectId id = inserter.insert(commit);
      inserter.flush();
      moveBranch(parent, id);
      return id.name();
    }
  }

  /** Adds to {@code builder} every file of {@code parent} that is neither written nor deleted. */
  private void keepUnchanged(DirCacheBuilder builder, ObjectId parent, Set<String> written, Set<String> deletes)
      throws IOException {
    try (RevWalk walk = new RevWalk(repo); TreeWalk tw = new TreeWalk(repo)) {
      tw.addTree(walk.parseCommit(parent).getTree());
      tw.setRecursive(true);
      while (tw.next()) {
        String path = tw.getPathString();
        if (!written.contains(path) && !deletes.contains(path)) {
          DirCacheEntry entry = new DirCacheEntry(path);
          entry.setFileMode(tw.getFileMode(0));
          entry.setObjectId(tw.getObjectId(0));
          builder.add(entry);
        }
      }
    }
  }

  private void moveBranch(ObjectId parent, ObjectId id) throws IOException {
    RefUpdate update = repo.updateRef(Constants.R_HEADS + branch);
    update.setNewObjectId(id);
    update.setExpectedOldObjectId(parent == null ? ObjectId.zeroId() : parent);
    RefUpdate.Result result = update.update();
    if (result != RefUpdate.Result.NEW && result != RefUpdate.Result.FAST_FORWARD) {
      throw new IOException("cannot move " + branch + " to " + id.name() + ": " + result);
    }
  }

  /** A file's content at the branch tip, or null when the branch or the file does not exist. */
  public byte[] read(String path) throws IOException {
    ObjectId tip = repo.resolve(Constants.R_HEADS + branch);
    if (tip == null) {
      return null;
    }
    try (RevWalk walk = new RevWalk(repo);
        TreeWalk tw = TreeWalk.forPath(repo, path, walk.parseCommit(tip).getTree())) {
      return tw == null ? null : repo.open(tw.getObjectId(0), Constants.OBJ_BLOB).getBytes();
    }
  }

  /** Points the branch at any commit, as a force push would. */
  public void forceBranch(String commit) throws IOException {
    RefUpdate update = repo.updateRef(Constants.R_HEADS + branch);
    update.setNewObjectId(ObjectId.fromString(commit));
    update.setForceUpdate(true);
    RefUpdate.Result result = update.forceUpdate();
    if (result != RefUpdate.Result.FORCED && result != RefUpdate.Result.NEW && result != RefUpdate.Result.NO_CHANGE
        && result != RefUpdate.Result.FAST_FORWARD) {
      throw new IOException("cannot force " + branch + " to " + commit + ": " + result);
    }
  }

  /** The parent of a commit, for rewinding history in tests. */
  public String parentOf(String commit) throws IOException {
    try (RevWalk walk = new RevWalk(repo)) {
      RevCommit c = walk.parseCommit(ObjectId.fromString(commit));
      return c.getParentCount() == 0 ? null : c.getParent(0).name();
    }
  }

  @Override
  public void close() {
    repo.close();
  }
}
