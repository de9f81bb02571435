package dev.meterd.engine;

import dev.meterd.batch.BatchContentException;
import dev.meterd.batch.BatchParser;
import dev.meterd.batch.UsageBatch;
import dev.meterd.ledger.NodeStore;
import dev.meterd.source.BatchSource;
import dev.meterd.source.BatchSource.FileRef;
import dev.meterd.source.BatchSource.NodeFiles;
import dev.meterd.source.SourceException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads and parses a node's changed files before its write, holding no lock of the ledger, so
 * that every content error and every slow read happens before the write lock is taken; it runs on
 * the read-ahead thread while the writer applies the nodes before it.
 *
 * <p>Parsed records are kept for the write up to a quarter of a file limit's worth of file bytes
 * for all the nodes read ahead together (about 0.75 heap bytes per byte of the limit, within the
 * margin the heap check leaves beside the parse of the next file): a node waits for room while the
 * writer catches up. A node whose own files pass that share has its files spooled to local
 * temporary files, parsed again under the lock, so that the lock never waits for the source. One
 * file is parsed at a time (the heap check allows for one), by whichever thread parses.
 */
final class NodeReader {

  private static final Logger log = LoggerFactory.getLogger(NodeReader.class);

  /** Parsed records are kept for up to 1/4 of a file limit of file bytes. */
  private static final int KEPT_SHARE_OF_FILE_LIMIT = 4;

  /** How often a wait of the reader checks whether the run is stopping. */
  static final long WAIT_CHECK_MS = 50;

  /** A node to read: its folder's tree at the tip, its track before the run, the newest commit touching it. */
  record Planned(String node, String treeId, NodeStore.NodeTrack state, String touchingCommit) {}

  /**
   * A file read before the node's write: its parsed records, or (past what the heap keeps) its
   * bytes spooled to a local temporary file, parsed again under the lock.
   */
  record ReadFile(FileRef ref, UsageBatch batch, Path spooled) {}

  /** What the reader made of a node, in the order the nodes are applied. */
  sealed interface Prepared permits Ready, Failed, ReadAhead.Crashed, ReadAhead.End {
    String node();
  }

  /**
   * Every changed file read (and parsed, or spooled); {@code keptKiB} is held until the node is
   * applied.
   *
   * @param records the records of its files, or {@link Long#MAX_VALUE} when a file was spooled
   *     (too big to keep parsed, so a node to run alone)
   */
  record Ready(String node, String treeId, String touchingCommit, String warning, List<ReadFile> files,
      int keptKiB, long records) implements Prepared {}

  /**
   * The node could not be read: a {@link BatchContentException}, a {@link SourceException}, a
   * defect's {@link RuntimeException} or an {@link OutOfMemoryError}, applied as the write's own.
   */
  record Failed(String node, String treeId, Throwable cause) implements Prepared {}

  private final BatchSource source;
  private final BatchParser parser;
  private final FaultInjector faults;
  private final String tip;
  private final int keptLimitKiB;
  private final Semaphore keptKiB;
  private final ReentrantLock parsing = new ReentrantLock();
  /** The place for one node's spooled files: the temporary disk they take stays one node's worth. */
  private final Semaphore spoolSlot = new Semaphore(1);
  final AtomicInteger ignored = new AtomicInteger();
  /**
   * Set when the run stops: the reader's waits end at their next check. The thread is never
   * interrupted, since an interrupt closes the file channels JGit reads its packs with.
   */
  private volatile boolean cancelled;

  NodeReader(BatchSource source, BatchParser parser, FaultInjector faults, String tip) {
    this.source = source;
    this.parser = parser;
    this.faults = faults;
    this.tip = tip;
    this.keptLimitKiB = (int) Math.max(1, parser.limits().maxFileBytes() / KEPT_SHARE_OF_FILE_LIMIT / 1024);
    this.keptKiB = new Semaphore(keptLimitKiB);
  }

  /**
   * Reads the node. A failure of the node is its {@link Failed}; only an {@link Error} other than
   * running out of heap (a simulated crash, a defect of the JVM) is thrown.
   *
   * @throws InterruptedException the run is stopping: nothing of the node is kept
   */
  Prepared prepare(Planned p) throws InterruptedException {
    List<ReadFile> read = new ArrayList<>();
    int[] kept = {0};
    boolean ready = false;
    try {
      String warning = cursorWarning(p.node(), p.state());
      NodeFiles files = source.changedFiles(p.node(), p.state() == null ? null : p.state().treeId(), p.treeId());
      for (String path : files.ignored()) {
        log.debug("ignored {}: not a usage file", path);
      }
      ignored.addAndGet(files.ignored().size());
      readAll(p.node(), files.changed(), read, kept);
      long records = 0;
      for (ReadFile file : read) {
        records = file.batch() == null ? Long.MAX_VALUE : records + file.batch().records().size();
        if (records == Long.MAX_VALUE) {
          break;
        }
      }
      Ready prepared = new Ready(p.node(), p.treeId(), p.touchingCommit(), warning, read, kept[0], records);
      ready = true;
      return prepared;
    } catch (BatchContentException | SourceException | RuntimeException | OutOfMemoryError e) {
      return new Failed(p.node(), p.treeId(), e);
    } finally {
      if (!ready) {
        keptKiB.release(kept[0]);
        releaseSpooled(read);
      }
    }
  }

  /** Ends the reader's waits: a run that stops reads nothing more. */
  void cancel() {
    cancelled = true;
  }

  /** @throws InterruptedException the run is stopping */
  void checkCancelled() throws InterruptedException {
    if (cancelled) {
      throw new InterruptedException("the run is stopping");
    }
  }

  /**
   * Gives back what a node held once it is applied, or dropped: its share of the heap, its spooled
   * files (and the one place for them), and the parse the writer kept while it wrote them.
   */
  void done(Prepared prepared) {
    if (prepared instanceof Ready ready) {
      keptKiB.release(ready.keptKiB());
      releaseSpooled(ready.files());
    }
    while (parsing.isHeldByCurrentThread()) {
      parsing.unlock();
    }
  }

  /**
   * A file's records: kept from the read, or parsed again from its spooled copy. A spooled file's
   * records are big (that is why it was spooled): the writer keeps the parse to itself until the
   * node is {@link #done}, so that the reader's next parse never adds to them on the heap.
   */
  UsageBatch batch(String node, ReadFile file) throws SourceException, BatchContentException {
    if (file.batch() != null) {
      return file.batch();
    }
    try {
      byte[] bytes = Files.readAllBytes(file.spooled());
      parsing.lock();
      return parser.parse(file.ref().path(), node, bytes);
    } catch (IOException e) {
      throw new SourceException("cannot read the spooled copy of " + file.ref().path() + " at "
          + file.spooled() + ": " + e.getMessage(), e);
    }
  }

  private UsageBatch parse(String path, String node, byte[] bytes) throws BatchContentException {
    parsing.lock();
    try {
      return parser.parse(path, node, bytes);
    } finally {
      parsing.unlock();
    }
  }

  /** Reads and parses the files into {@code read} (the caller's, so that it cleans up after a failure). */
  private void readAll(String node, List<FileRef> files, List<ReadFile> read, int[] kept)
      throws SourceException, BatchContentException, InterruptedException {
    long keptBytes = 0;
    for (FileRef file : files) {
      parser.checkSize(file.path(), file.sizeBytes());
      byte[] bytes = source.read(file);
      UsageBatch batch = parse(file.path(), node, bytes);
      faults.reached(FaultInjector.Point.AFTER_PARSE, node);
      int kib = (int) ((file.sizeBytes() + 1023) / 1024);
      if (kept[0] + kib <= keptLimitKiB) {
        // Waits while the nodes read ahead hold the share: the writer gives it back node by node.
        while (!keptKiB.tryAcquire(kib, WAIT_CHECK_MS, TimeUnit.MILLISECONDS)) {
          checkCancelled();
        }
        kept[0] += kib;
        keptBytes += file.sizeBytes();
        read.add(new ReadFile(file, batch, null));
      } else {
        if (!holdsSpoolSlot(read)) {
          // One node's spooled files at a time: the writer gives the place back with the node.
          while (!spoolSlot.tryAcquire(WAIT_CHECK_MS, TimeUnit.MILLISECONDS)) {
            checkCancelled();
          }
        }
        try {
          read.add(new ReadFile(file, null, spool(file, bytes)));
        } catch (SourceException | RuntimeException e) {
          if (!holdsSpoolSlot(read)) {
            spoolSlot.release();
          }
          throw e;
        }
      }
    }
    log.trace("node {}: {} bytes kept parsed", node, keptBytes);
  }

  private Path spool(FileRef file, byte[] bytes) throws SourceException {
    try {
      Path spooled = Files.createTempFile("meterd-spool-", ".toml");
      Files.write(spooled, bytes);
      return spooled;
    } catch (IOException e) {
      throw new SourceException("cannot spool " + file.path() + " to a temporary file: " + e.getMessage(), e);
    }
  }

  private static boolean holdsSpoolSlot(List<ReadFile> read) {
    return read.stream().anyMatch(f -> f.spooled() != null);
  }

  /** Deletes a node's spooled files and gives back the place for them, if it held it. */
  private void releaseSpooled(List<ReadFile> read) {
    if (holdsSpoolSlot(read)) {
      deleteSpooled(read);
      spoolSlot.release();
    }
  }

  private static void deleteSpooled(List<ReadFile> read) {
    for (ReadFile file : read) {
      if (file.spooled() != null) {
        try {
          Files.deleteIfExists(file.spooled());
        } catch (IOException e) {
          log.warn("cannot delete the temporary file {}: {}", file.spooled(), e.getMessage());
        }
      }
    }
  }

  private String cursorWarning(String node, NodeStore.NodeTrack state) throws SourceException {
    if (state == null || state.lastCommitSha() == null || source.isAncestor(state.lastCommitSha(), tip, node)) {
      return null;
    }
    String warning = "cursor " + state.lastCommitSha() + " is not an ancestor of the branch tip " + tip
        + " (history rewritten); records already consumed are not charged again";
    log.warn("node {}: {}", node, warning);
    return warning;
  }
}
