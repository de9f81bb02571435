package dev.meterd.testing;

import dev.meterd.source.BatchSource;
import dev.meterd.source.SourceException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArraySet;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * A real source with a recorder in front: it counts the files read, and can make reads of chosen
 * nodes fail as a network or disk would, run out of heap as a JVM would, or stall as a slow forge
 * would until the test releases them.
 */
public final class CountingSource implements BatchSource {

  private final BatchSource real;
  public final List<String> reads = new ArrayList<>();
  public final Set<String> failingNodes = new CopyOnWriteArraySet<>();
  /** Reads of this node's files wait for {@link #release}; each counts {@link #stalled} down first. */
  public volatile String stallingNode;
  public final CountDownLatch stalled = new CountDownLatch(1);
  public final CountDownLatch release = new CountDownLatch(1);
  /**
   * Runs once, when the next node's changed files are asked for (before its write begins): what
   * happens elsewhere while a run is in flight.
   */
  public volatile Runnable beforeNextNode;
  /** Runs before each read, in the reading thread: a test's way to act at an exact moment of a run. */
  public volatile ReadHook beforeRead = file -> {};

  /** Something a test does just before a file is read. */
  public interface ReadHook {
    void reached(FileRef file) throws SourceException;
  }
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
    Runnable hook = beforeNextNode;
    if (hook != null) {
      beforeNextNode = null;
      hook.run();
    }
    return real.changedFiles(node, oldTreeId, newTreeId);
  }

  @Override
  public byte[] read(FileRef file) throws SourceException {
    reads.add(file.path());
    beforeRead.reached(file);
    for (String node : failingNodes) {
      if (file.path().startsWith("nodes/" + node + "/")) {
        throw new SourceException("simulated I/O error reading " + file.path());
      }
    }
    if (stallingNode != null && file.path().startsWith("nodes/" + stallingNode + "/")) {
      stalled.countDown();
      try {
        if (!release.await(120, TimeUnit.SECONDS)) {
          throw new SourceException("the test never released the stalled read of " + file.path());
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new SourceException("interrupted while stalled reading " + file.path());
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
