package dev.meterd.source.git;

import dev.meterd.batch.WireFormat;
import dev.meterd.source.BatchSource;
import dev.meterd.source.SourceException;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;
import org.eclipse.jgit.api.Git;
import org.eclipse.jgit.api.errors.GitAPIException;
import org.eclipse.jgit.errors.MissingObjectException;
import org.eclipse.jgit.errors.RepositoryNotFoundException;
import org.eclipse.jgit.lib.Constants;
import org.eclipse.jgit.lib.FileMode;
import org.eclipse.jgit.lib.ObjectId;
import org.eclipse.jgit.lib.ObjectReader;
import org.eclipse.jgit.lib.Ref;
import org.eclipse.jgit.lib.Repository;
import org.eclipse.jgit.revwalk.RevCommit;
import org.eclipse.jgit.revwalk.RevWalk;
import org.eclipse.jgit.transport.RefSpec;
import org.eclipse.jgit.transport.UsernamePasswordCredentialsProvider;
import org.eclipse.jgit.treewalk.TreeWalk;
import org.eclipse.jgit.treewalk.filter.AndTreeFilter;
import org.eclipse.jgit.treewalk.filter.PathFilter;
import org.eclipse.jgit.treewalk.filter.TreeFilter;

/**
 * The usage repository through JGit. A local path is read in place; a URL is mirrored into a
 * bare clone that is fetched at the start of every run.
 *
 * <p>Implementation notes. Change detection never runs a path-limited log per node: on 10,000
 * nodes with 1,000 commits of history that costs minutes per poll. Instead the engine compares
 * each node folder's tree id with the one at its cursor, and {@link #history} finds the newest
 * touching commit of the changed nodes with one walk from the tip that diffs the {@code nodes/}
 * tree of each commit against its parents and stops as soon as every wanted node is found.
 * Commits are walked newest first by commit time, as {@code git log} does, and each wanted node
 * follows its own simplified history, as {@code git log -- nodes/NODE} does: a commit whose
 * folder is the same as in one of its parents does not touch the node, and the node's search
 * goes on through the first such parent only (so a merged branch whose changes to the folder
 * the merge did not keep, or undid, is not searched for that node). A commit whose folder differs
 * from every parent touches it. A node the walk cannot settle (commit times out of order) falls
 * back to a path-limited log of its own.
 */
public final class GitBatchSource implements BatchSource {

  private static final Pattern SCP_LIKE = Pattern.compile("^[\\w.-]+@[\\w.-]+:.*");

  private final Repository repo;
  private final String branch;
  private final String remoteUrl;
  private final Optional<String> token;
  private final String description;
  private final Duration timeout;

  private GitBatchSource(Repository repo, String branch, String remoteUrl, Optional<String> token,
      String description, Duration timeout) {
    this.repo = repo;
    this.branch = branch;
    this.remoteUrl = remoteUrl;
    this.token = token;
    this.description = description;
    this.timeout = timeout;
  }

  /** How long a fetch may wait to connect, and for each read, unless configured otherwise. */
  public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(30);

  /** Whether the source is a git URL (mirrored into a clone) rather than a local path. */
  public static boolean isUrl(String source) {
    return source.contains("://") || SCP_LIKE.matcher(source).matches();
  }

  /**
   * Opens the usage repository.
   *
   * @param source a local path (read in place) or a git URL
   * @param branch the branch to read
   * @param cloneDir where a URL's clone is kept
   * @param token for https URLs, sent as the password; never logged
   */
  public static GitBatchSource open(String source, String branch, Path cloneDir, Optional<String> token)
      throws SourceException {
    return open(source, branch, cloneDir, token, DEFAULT_TIMEOUT);
  }

  /**
   * As {@link #open(String, String, Path, Optional)}, with the fetch's transport timeout: how long
   * connecting, and each read of the remote's answer, may take before the fetch fails (a remote
   * that accepts the connection and never answers must not hang the run).
   */
  public static GitBatchSource open(String source, String branch, Path cloneDir, Optional<String> token,
      Duration timeout) throws SourceException {
    if (timeout.isNegative() || timeout.isZero() || timeout.toSeconds() > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("the git transport timeout must be 1 s or more, got " + timeout);
    }
    if (isUrl(source)) {
      try {
        Files.createDirectories(cloneDir);
        Repository repo = Files.exists(cloneDir.resolve("HEAD"))
            ? Git.open(cloneDir.toFile()).getRepository()
            : Git.init().setBare(true).setDirectory(cloneDir.toFile()).call().getRepository();
        return new GitBatchSource(repo, branch, source, token, redact(source), timeout);
      } catch (IOException | GitAPIException e) {
        throw new SourceException("cannot prepare the clone of " + redact(source) + " in " + cloneDir + ": "
            + e.getMessage(), e);
      }
    }
    File dir = new File(source);
    if (!dir.exists()) {
      throw new SourceException("the usage repository " + source + " does not exist");
    }
    try {
      return new GitBatchSource(Git.open(dir).getRepository(), branch, null, Optional.empty(), source, timeout);
    } catch (RepositoryNotFoundException e) {
      throw new SourceException("the usage repository " + source + " is not a git repository", e);
    } catch (IOException e) {
      throw new SourceException("cannot open the usage repository " + source + ": " + e.getMessage(), e);
    }
  }

  /** A URL without its user info, for messages. */
  static String redact(String url) {
    return url.replaceAll("://[^/@]*@", "://");
  }

  /**
   * One reader per run, opened by {@link #tip}: it keeps inflaters and pack windows between the
   * reads of a run, and a new run's reader sees packs pushed since.
   */
  private ObjectReader reader;

  private ObjectReader reader() {
    if (reader == null) {
      reader = repo.newObjectReader();
    }
    return reader;
  }

  @Override
  public void close() {
    if (reader != null) {
      reader.close();
    }
    repo.close();
  }

  @Override
  public String tip() throws SourceException {
    if (reader != null) {
      reader.close();
      reader = null;
    }
    if (remoteUrl != null) {
      fetch();
    }
    try {
      Ref ref = repo.exactRef(Constants.R_HEADS + branch);
      if (ref == null || ref.getObjectId() == null) {
        throw new SourceException("the usage repository " + description + " has no branch " + branch);
      }
      return ref.getObjectId().name();
    } catch (IOException e) {
      throw new SourceException("cannot read branch " + branch + " of " + description + ": " + e.getMessage(), e);
    }
  }

  private void fetch() throws SourceException {
    try (Git git = Git.wrap(repo)) {
      var fetch = git.fetch()
          .setRemote(remoteUrl)
          .setTimeout((int) Math.max(1, timeout.toSeconds()))
          .setRefSpecs(new RefSpec("+" + Constants.R_HEADS + branch + ":" + Constants.R_HEADS + branch));
      token.ifPresent(t -> fetch.setCredentialsProvider(new UsernamePasswordCredentialsProvider("meterd", t)));
      fetch.call();
    } catch (GitAPIException | RuntimeException e) {
      // The transport error and its causes can carry the URL with its user info, so only their
      // redacted message is kept: a logged trace of the cause could leak a secret.
      throw new SourceException("cannot fetch branch " + branch + " from " + description + ": "
          + redact(e.getMessage(), token) + (timedOut(e) ? "; the remote did not answer within "
              + timeout.toSeconds() + " s ([source] timeout_seconds)" : ""));
    }
  }

  private static boolean timedOut(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof java.io.InterruptedIOException) {
        return true;
      }
    }
    return false;
  }

  /**
   * A git error message fit for a log or an error: URLs without their user info, the token
   * replaced. The edge writer's push uses it too.
   */
  public static String redact(String message, Optional<String> token) {
    String m = message == null ? "unknown error" : redact(message);
    return token.map(t -> m.replace(t, "[token]")).orElse(m);
  }

  @Override
  public NodeListing listNodes(String tip) throws SourceException {
    try (RevWalk walk = new RevWalk(reader())) {
      ObjectReader reader = walk.getObjectReader();
      ObjectId nodesTree = nodesTree(reader, walk.parseCommit(ObjectId.fromString(tip)));
      List<NodeFolder> nodes = new ArrayList<>();
      List<String> ignored = new ArrayList<>();
      if (nodesTree == null) {
        return new NodeListing(nodes, ignored);
      }
      try (TreeWalk tw = new TreeWalk(reader)) {
        tw.addTree(nodesTree);
        tw.setRecursive(false);
        while (tw.next()) {
          String name = tw.getNameString();
          if (tw.getFileMode(0) == FileMode.TREE && WireFormat.isNodeName(name)) {
            nodes.add(new NodeFolder(name, tw.getObjectId(0).name()));
          } else {
            ignored.add(WireFormat.NODES_DIR + "/" + name);
          }
        }
      }
      return new NodeListing(nodes, ignored);
    } catch (IOException e) {
      throw new SourceException("cannot list " + WireFormat.NODES_DIR + "/ at " + tip + " in " + description
          + ": " + e.getMessage(), e);
    }
  }

  /** The id of the commit's {@code nodes} tree, or null when it has none. */
  private static ObjectId nodesTree(ObjectReader reader, RevCommit commit) throws IOException {
    try (TreeWalk tw = TreeWalk.forPath(reader, WireFormat.NODES_DIR, commit.getTree())) {
      if (tw == null || tw.getFileMode(0) != FileMode.TREE) {
        return null;
      }
      return tw.getObjectId(0);
    }
  }

  @Override
  public History history(String tip, Map<String, String> tipTrees, String since) throws SourceException {
    try (RevWalk walk = new RevWalk(reader())) {
      ObjectReader reader = walk.getObjectReader();
      RevCommit tipCommit = walk.parseCommit(ObjectId.fromString(tip));
      Set<ObjectId> newRange = since == null ? Set.of() : rangeSince(reader, tipCommit, since);
      Map<String, String> found = new HashMap<>();
      Set<String> touched = new HashSet<>();
      Map<ObjectId, ObjectId> nodesTrees = new HashMap<>();
      // The nodes still searched for at each commit: those whose simplified history reaches it.
      Map<ObjectId, Set<String>> searching = new HashMap<>();
      searching.put(tipCommit.copy(), new HashSet<>(tipTrees.keySet()));
      int rangeLeft = newRange.size();
      walk.markStart(tipCommit);
      for (RevCommit commit : walk) {
        if (searching.isEmpty() && rangeLeft == 0) {
          break;
        }
        Set<String> looking = searching.remove(commit);
        boolean inRange = newRange.contains(commit);
        if (inRange) {
          rangeLeft--;
        }
        if (looking == null && !inRange) {
          continue;
        }
        List<Map<String, ObjectId>> differing = differingPerParent(reader, walk, commit, nodesTrees);
        if (inRange) {
          touched.addAll(inEvery(differing));
        }
        if (looking != null) {
          follow(commit, looking, differing, found, searching);
        }
      }
      for (String node : tipTrees.keySet()) {
        if (!found.containsKey(node)) {
          found.put(node, newestTouchingByLog(tipCommit, node));
        }
      }
      return new History(found, touched);
    } catch (IOException e) {
      throw new SourceException("cannot walk the history of " + description + " from " + tip + ": "
          + e.getMessage(), e);
    }
  }

  /**
   * Settles, for each node searched at {@code commit}, whether the commit touches it (its folder
   * differs from every parent's) or the search goes on in the first parent with the same folder.
   */
  private static void follow(RevCommit commit, Set<String> looking, List<Map<String, ObjectId>> differing,
      Map<String, String> found, Map<ObjectId, Set<String>> searching) {
    for (String node : looking) {
      if (found.containsKey(node)) {
        continue;
      }
      int same = -1;
      for (int p = 0; p < commit.getParentCount() && same < 0; p++) {
        if (!differing.get(p).containsKey(node)) {
          same = p;
        }
      }
      if (same < 0) {
        found.put(node, commit.name());
      } else {
        searching.computeIfAbsent(commit.getParent(same).copy(), c -> new HashSet<>()).add(node);
      }
    }
  }

  private static Set<String> inEvery(List<Map<String, ObjectId>> differing) {
    Set<String> result = new HashSet<>(differing.get(0).keySet());
    for (Map<String, ObjectId> d : differing.subList(1, differing.size())) {
      result.retainAll(d.keySet());
    }
    return result;
  }

  private static Set<ObjectId> rangeSince(ObjectReader reader, RevCommit tip, String since) throws IOException {
    ObjectId sinceId = ObjectId.fromString(since);
    if (!reader.has(sinceId)) {
      return Set.of();
    }
    Set<ObjectId> range = new HashSet<>();
    try (RevWalk walk = new RevWalk(reader)) {
      walk.markStart(walk.parseCommit(tip));
      walk.markUninteresting(walk.parseCommit(sinceId));
      for (RevCommit c : walk) {
        range.add(c.copy());
      }
    }
    return range;
  }

  /**
   * For each parent of a commit (or the empty tree, for a root commit), the node folders whose
   * tree differs between that parent and the commit, with their tree id in the commit (zero when
   * deleted).
   */
  private static List<Map<String, ObjectId>> differingPerParent(ObjectReader reader, RevWalk walk,
      RevCommit commit, Map<ObjectId, ObjectId> nodesTrees) throws IOException {
    ObjectId mine = nodesTreeOf(reader, walk, commit, nodesTrees);
    if (commit.getParentCount() == 0) {
      return List.of(diff(reader, null, mine));
    }
    List<Map<String, ObjectId>> result = new ArrayList<>();
    for (RevCommit parent : commit.getParents()) {
      ObjectId theirs = nodesTreeOf(reader, walk, parent, nodesTrees);
      result.add(java.util.Objects.equals(theirs, mine) ? Map.of() : diff(reader, theirs, mine));
    }
    return result;
  }

  private static ObjectId nodesTreeOf(ObjectReader reader, RevWalk walk, RevCommit commit,
      Map<ObjectId, ObjectId> cache) throws IOException {
    if (cache.containsKey(commit)) {
      return cache.get(commit);
    }
    walk.parseHeaders(commit);
    ObjectId tree = nodesTree(reader, commit);
    cache.put(commit.copy(), tree);
    return tree;
  }

  /** Entries of {@code after} (a nodes tree, or null) whose id differs from {@code before}'s. */
  private static Map<String, ObjectId> diff(ObjectReader reader, ObjectId before, ObjectId after)
      throws IOException {
    Map<String, ObjectId> result = new LinkedHashMap<>();
    try (TreeWalk tw = new TreeWalk(reader)) {
      addTreeOrEmpty(tw, before);
      addTreeOrEmpty(tw, after);
      tw.setRecursive(false);
      tw.setFilter(TreeFilter.ANY_DIFF);
      while (tw.next()) {
        result.put(tw.getNameString(), tw.getObjectId(1).copy());
      }
    }
    return result;
  }

  private static void addTreeOrEmpty(TreeWalk tw, ObjectId tree) throws IOException {
    if (tree == null) {
      tw.addTree(new org.eclipse.jgit.treewalk.EmptyTreeIterator());
    } else {
      tw.addTree(tree);
    }
  }

  /** The exact, slow way, for a node the walk did not settle: git log -1 -- nodes/NODE. */
  private String newestTouchingByLog(RevCommit tip, String node) throws IOException {
    try (RevWalk walk = new RevWalk(repo)) {
      walk.setTreeFilter(AndTreeFilter.create(PathFilter.create(WireFormat.NODES_DIR + "/" + node),
          TreeFilter.ANY_DIFF));
      walk.markStart(walk.parseCommit(tip));
      RevCommit newest = walk.next();
      return newest == null ? tip.name() : newest.name();
    }
  }

  @Override
  public NodeFiles changedFiles(String node, String oldTreeId, String newTreeId) throws SourceException {
    String prefix = WireFormat.NODES_DIR + "/" + node + "/";
    try (TreeWalk tw = new TreeWalk(reader())) {
      ObjectReader reader = tw.getObjectReader();
      ObjectId oldTree = oldTreeId == null ? null : ObjectId.fromString(oldTreeId);
      if (oldTree != null && !reader.has(oldTree)) {
        oldTree = null; // gone after a rewritten history: read every file, the index dedups
      }
      addTreeOrEmpty(tw, oldTree);
      tw.addTree(ObjectId.fromString(newTreeId));
      tw.setRecursive(false);
      List<FileRef> changed = new ArrayList<>();
      List<String> ignored = new ArrayList<>();
      while (tw.next()) {
        FileMode mode = tw.getFileMode(1);
        if (mode == FileMode.MISSING) {
          continue;
        }
        String name = tw.getNameString();
        boolean file = mode == FileMode.REGULAR_FILE || mode == FileMode.EXECUTABLE_FILE;
        if (!file || !WireFormat.isUsageFileName(name)) {
          ignored.add(prefix + name);
        } else if (!tw.idEqual(0, 1)) {
          ObjectId blob = tw.getObjectId(1);
          changed.add(new FileRef(prefix + name, blob.name(), reader.getObjectSize(blob, Constants.OBJ_BLOB)));
        }
      }
      return new NodeFiles(changed, ignored);
    } catch (IOException e) {
      throw new SourceException("cannot list the files of " + prefix + " in " + description + ": "
          + e.getMessage(), e);
    }
  }

  @Override
  public String nodeTreeAt(String commit, String node) throws SourceException {
    try (RevWalk walk = new RevWalk(reader())) {
      ObjectId id = ObjectId.fromString(commit);
      if (!walk.getObjectReader().has(id)) {
        return null;
      }
      try (TreeWalk tw = TreeWalk.forPath(walk.getObjectReader(), WireFormat.NODES_DIR + "/" + node,
          walk.parseCommit(id).getTree())) {
        return tw == null || tw.getFileMode(0) != FileMode.TREE ? null : tw.getObjectId(0).name();
      }
    } catch (IOException e) {
      throw new SourceException("cannot read nodes/" + node + " at " + commit + " in " + description + ": "
          + e.getMessage(), e);
    }
  }

  @Override
  public List<String> oldestFirst(java.util.Collection<String> commits) throws SourceException {
    try (RevWalk walk = new RevWalk(reader())) {
      List<RevCommit> known = new ArrayList<>();
      for (String c : commits) {
        ObjectId id = ObjectId.fromString(c);
        if (walk.getObjectReader().has(id)) {
          known.add(walk.parseCommit(id));
        }
      }
      known.sort(java.util.Comparator.comparingInt(RevCommit::getCommitTime));
      return known.stream().map(RevCommit::name).toList();
    } catch (IOException e) {
      throw new SourceException("cannot read commits of " + description + ": " + e.getMessage(), e);
    }
  }

  @Override
  public byte[] read(FileRef file) throws SourceException {
    try {
      return reader().open(ObjectId.fromString(file.blobId()), Constants.OBJ_BLOB)
          .getCachedBytes(Integer.MAX_VALUE);
    } catch (IOException e) {
      throw new SourceException("cannot read " + file.path() + " (blob " + file.blobId() + ") from "
          + description + ": " + e.getMessage(), e);
    }
  }

  @Override
  public boolean isAncestor(String commit, String tip, String node) throws SourceException {
    try (RevWalk walk = new RevWalk(repo)) {
      ObjectId id = ObjectId.fromString(commit);
      if (!walk.getObjectReader().has(id)) {
        return false;
      }
      return walk.isMergedInto(walk.parseCommit(id), walk.parseCommit(ObjectId.fromString(tip)));
    } catch (MissingObjectException e) {
      return false;
    } catch (IOException e) {
      throw new SourceException("cannot compare " + commit + " with " + tip + " in " + description + ": "
          + e.getMessage(), e);
    }
  }
}
