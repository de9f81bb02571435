package dev.meterd.source;

import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Where usage batches come from: a git repository (JGit) or a forge's HTTP API. Every
 * read of a run names the tip the run pinned at its start, so a commit pushed mid-run belongs
 * to the next run.
 *
 * <p>Failures to reach or read the source are {@link SourceException}s: transient, retried by
 * the next run.
 */
public interface BatchSource extends AutoCloseable {

  /** Brings the source up to date (a fetch, for a remote) and returns the branch tip's sha. */
  String tip() throws SourceException;

  /** The folders under {@code nodes/} at the tip, and the entries that are not node folders. */
  NodeListing listNodes(String tip) throws SourceException;

  /**
   * Finds, for each wanted node, the newest commit at or below {@code tip} that touches its
   * folder, and which nodes the commits since {@code since} touched.
   *
   * @param tipTrees the wanted nodes' tree ids at the tip
   * @param since the tip of the last complete run, or null
   */
  History history(String tip, Map<String, String> tipTrees, String since) throws SourceException;

  /**
   * The usage files of a node folder whose blob differs from the one in {@code oldTreeId}, in
   * path order, and the folder's entries that are not usage files.
   *
   * @param oldTreeId the folder's tree at the node's cursor, or null to read every file
   */
  NodeFiles changedFiles(String node, String oldTreeId, String newTreeId) throws SourceException;

  /** The tree id of {@code nodes/<node>} at a commit, or null when the commit has no such folder. */
  String nodeTreeAt(String commit, String node) throws SourceException;

  /** Orders commits oldest first (by commit time); unknown commits are left out. */
  java.util.List<String> oldestFirst(java.util.Collection<String> commits) throws SourceException;

  /** A file's bytes; the caller has checked its size against the limit. */
  byte[] read(FileRef file) throws SourceException;

  /**
   * Whether {@code commit} is an ancestor of (or equal to) {@code tip}; false when unknown.
   *
   * @param node a node whose folder {@code commit} touched (it is the node's cursor): a source
   *     may search that folder's history only
   */
  boolean isAncestor(String commit, String tip, String node) throws SourceException;

  @Override
  void close();

  /** A node folder at a tip. */
  record NodeFolder(String name, String treeId) {}

  /**
   * @param nodes the node folders, by name
   * @param ignored paths under {@code nodes/} that are not valid node folders
   */
  record NodeListing(List<NodeFolder> nodes, List<String> ignored) {}

  /**
   * @param newestTouching node name to the newest commit touching its folder
   * @param touchedSince nodes touched by a commit after {@code since} (empty when since is null)
   */
  record History(Map<String, String> newestTouching, Set<String> touchedSince) {}

  /** A usage file: its repository path, blob id and size. */
  record FileRef(String path, String blobId, long sizeBytes) {}

  /**
   * @param changed usage files new or changed since the old tree, in path order
   * @param ignored paths in the folder that are not usage files
   */
  record NodeFiles(List<FileRef> changed, List<String> ignored) {}
}
