package dev.meterd.testing;

import dev.meterd.source.BatchSource;
import dev.meterd.source.SourceException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArraySet;

/**
 * A real source with a recorder in front: it counts the files read, and can make reads of chosen
 * nodes fail as a network or disk would, or run out of heap as a JVM would.
 */
public final class CountingSource implements BatchSource {

  private final BatchSource real;
  public final List<String> reads = new ArrayList<>();
  public final Set<String> failingNodes = new CopyOnWriteArraySet<>();
  public final Set<String> exhaustedNodes = new CopyOnWriteArraySet<>();

  public CountingSource(BatchSource real) {
    this.real = real;
  }

  @Override
  public String tip() throws SourceException {
    return real.tip();
  }

  @Override
  public NodeListing listNodes(String tip) throws SourceException {
    return real.listNodes(tip);
  }

  @Override
  public History history(String tip, Map<String, String> tipTrees, String since) throws SourceException {
    return real.history(tip, tipTrees, since);
  }

  @Override
  public NodeFiles changedFiles(String node, String oldTreeId, String newTreeId) throws SourceException {
    return real.changedFiles(node, oldTreeId, newTreeId);
  }

  @Override
  public byte[] read(FileRef file) throws SourceException {
    reads.add(file.path());
    for (String node : failingNodes) {
      if (file.path().startsWith("nodes/" + node + "/")) {
        throw new SourceException("simulated I/O error reading " + file.path());
      }
    }
    for (String node : exhaustedNodes) {
      if (file.path().startsWith("nodes/" + node + "/")) {
        throw new OutOfMemoryError("Java heap space");
      }
    }
    return real.read(file);
  }

  @Override
  public String nodeTreeAt(String commit, String node) throws SourceException {
    return real.nodeTreeAt(commit, node);
  }

  @Override
  public List<String> oldestFirst(java.util.Collection<String> commits) throws SourceException {
    return real.oldestFirst(commits);
  }

  @Override
  public boolean isAncestor(String commit, String tip, String node) throws SourceException {
    return real.isAncestor(commit, tip, node);
  }

  @Override
  public void close() {
    real.close();
  }
}
