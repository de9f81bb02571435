package dev.meterd.engine;

import dev.meterd.batch.BatchContentException;
import dev.meterd.batch.BatchParser;
import dev.meterd.batch.UsageBatch;
import dev.meterd.ledger.Ledger;
import dev.meterd.ledger.LedgerException;
import dev.meterd.ledger.NodeApplied;
import dev.meterd.ledger.NodeCursor;
import dev.meterd.ledger.NodeError;
import dev.meterd.ledger.NodeState;
import dev.meterd.ledger.NodeStore;
import dev.meterd.ledger.RunLock;
import dev.meterd.source.BatchSource;
import dev.meterd.source.BatchSource.FileRef;
import dev.meterd.source.BatchSource.NodeFiles;
import dev.meterd.source.BatchSource.NodeFolder;
import dev.meterd.source.SourceException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One aggregation run: finds the nodes that changed since their cursors, reads their new
 * files, and applies each node in its own ledger transaction. A node that fails is halted with
 * its error and nothing of its run applied; the other nodes go on.
 *
 * <p>A run pins the branch tip it sees at its start; every read of the run is from that commit.
 * An unchanged tip (equal to the ledger's run mark) skips every node without reading anything.
 */
public final class Aggregator {

  private static final Logger log = LoggerFactory.getLogger(Aggregator.class);

  /**
   * Test only: when this system property is {@code true}, a run does not take the ledger's run
   * lock, so that a test can put two runs on one database at once and show that the
   * consumed-record primary key alone charges each record once. Never set in production: the
   * lock is what keeps a second run from reading and parsing every file for nothing.
   */
  static final String IGNORE_RUN_LOCK_PROPERTY = "meterd.test.ignoreRunLock";

  private final BatchSource source;
  private final NodeStore store;
  /** Takes the store's run lock: empty when another run holds it. */
  private final Supplier<Optional<RunLock>> runLock;
  private final BatchParser parser;
  private final Clock clock;
  private final FaultInjector faults;
  private volatile boolean stopRequested;

  public Aggregator(BatchSource source, Ledger ledger, BatchParser parser, Clock clock, FaultInjector faults) {
    this.source = source;
    this.store = ledger.nodeStore();
    this.runLock = ledger::tryLockRun;
    this.parser = parser;
    this.clock = clock;
    this.faults = faults;
  }

  /**
   * Runs once.
   *
   * @throws SourceException the source could not be reached: nothing was read or applied
   * @throws LedgerException the store failed outside a node's run (no node half applied; nodes
   *     committed before stay committed)
   * @throws UnknownNodeException a requested node has no folder at the tip
   * @throws RunInProgressException another run holds the ledger's run lock
   */
  public RunSummary run(RunRequest request) throws SourceException {
    if (Boolean.getBoolean(IGNORE_RUN_LOCK_PROPERTY)) {
      return runLocked(request);
    }
    try (RunLock lock = runLock.get().orElseThrow(RunInProgressException::new)) {
      return runLocked(request);
    }
  }

  private RunSummary runLocked(RunRequest request) throws SourceException {
    Instant startedAt = clock.instant();
    long startNanos = System.nanoTime();
    String runId = runId(startedAt);
    String tip = source.tip();
    NodeStore.RunMark mark = store.runMark();
    boolean everyNode = request.nodes().isEmpty();
    if (everyNode && tip.equals(mark.fullTip())) {
      List<NodeOutcome> halted = new ArrayList<>();
      for (NodeState state : store.haltedNodes()) {
        halted.add(new NodeOutcome.Halted(state.node(), state.error()));
      }
      return new RunSummary(runId, request.dryRun(), startedAt, elapsedMs(startNanos), tip, halted,
          Math.max(0, mark.nodesTotal() - halted.size()), 0);
    }
    // Changed-and-changed-back folders and rewritten history are looked for in the commits since
    // the last run that looked at every node, settled or not.
    Run run = new Run(request, tip, mark.lastTip());
    run.execute();
    RunSummary summary = new RunSummary(runId, request.dryRun(), startedAt, elapsedMs(startNanos), tip,
        run.outcomes, run.skipped, run.ignored);
    if (everyNode && !request.dryRun() && !stopRequested) {
      boolean settled = summary.halted().stream().allMatch(h -> h.error().kind() == NodeError.Kind.CONTENT);
      recordMark(settled ? new NodeStore.RunMark(tip, summary.nodesTotal(), mark.generation(), tip)
          : new NodeStore.RunMark(null, 0, mark.generation(), tip));
    }
    log.info("run {} at {}: {} nodes, {} skipped, {} consumed, {} halted; {} records consumed, {} duplicate, "
        + "{} cents debited{}", runId, tip, summary.nodesTotal(), summary.nodesSkipped(), summary.nodesConsumed(),
        summary.halted().size(), summary.recordsConsumed(), summary.recordsDuplicate(), summary.debitedCents(),
        request.dryRun() ? " (dry run: nothing written)" : "");
    return summary;
  }

  /**
   * Records the run's mark. The mark only saves work, so a failure to record it is no failure of
   * the run: its nodes are committed, and the summary must say so. The mark kept is an older tip's,
   * so the next run looks at the nodes again.
   */
  private void recordMark(NodeStore.RunMark runMark) {
    try {
      if (!store.setRunMark(runMark) && runMark.fullTip() != null) {
        log.info("run mark at {} not recorded: a node was resumed or halted transiently during the run, "
            + "so the next run looks at every node", runMark.fullTip());
      }
    } catch (LedgerException e) {
      log.warn("the run mark could not be recorded ({}); the next run looks at every node again", e.getMessage());
    }
  }

  /**
   * Asks a run in progress to stop after the node it is applying (a shutdown): that node's
   * transaction finishes, later nodes wait for the next run.
   */
  public void requestStop() {
    stopRequested = true;
  }

  private static long elapsedMs(long startNanos) {
    return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos);
  }

  private static String runId(Instant at) {
    return "r-" + Long.toString(at.toEpochMilli(), 36) + "-"
        + Integer.toString(ThreadLocalRandom.current().nextInt(36 * 36 * 36 * 36), 36);
  }

  /** A node's debits would take the run's total past 2^63 - 1 cents (its write is rolled back). */
  private static final class RunTotalOverflowException extends RuntimeException {
    private static final long serialVersionUID = 1L;
  }

  /**
   * A file read before the node's write: its parsed records, or (past what the heap keeps) its
   * bytes spooled to a local temporary file, parsed again under the lock.
   */
  private record ReadFile(FileRef ref, UsageBatch batch, Path spooled) {}

  /** Parsed records are kept before a node's write for up to 1/4 of a file limit of file bytes. */
  private static final int KEPT_SHARE_OF_FILE_LIMIT = 4;

  /** The state of one run in progress. */
  private final class Run {
    private final RunRequest request;
    private final String tip;
    private final String since;
    final List<NodeOutcome> outcomes = new ArrayList<>();
    int skipped;
    int ignored;
    /** The cents debited by the nodes this run has committed; never past 2^63 - 1. */
    long debitedCents;

    Run(RunRequest request, String tip, String since) {
      this.request = request;
      this.tip = tip;
      this.since = since;
    }

    void execute() throws SourceException {
      BatchSource.NodeListing listing = source.listNodes(tip);
      for (String path : listing.ignored()) {
        log.warn("ignored {} at {}: not a node folder (names match [A-Za-z0-9][A-Za-z0-9._-]{{0,63}})", path, tip);
      }
      ignored += listing.ignored().size();
      List<NodeFolder> folders = selected(listing.nodes());
      Map<String, NodeStore.NodeTrack> states = store.tracks();

      Map<String, String> changed = new LinkedHashMap<>();
      Map<String, String> unchanged = new LinkedHashMap<>();
      Set<String> stillHalted = new HashSet<>();
      for (NodeFolder folder : folders) {
        NodeStore.NodeTrack state = states.get(folder.name());
        if (state == null) {
          changed.put(folder.name(), folder.treeId());
        } else if (state.halted()) {
          boolean waitsForChange = state.haltKind() == NodeError.Kind.CONTENT
              && folder.treeId().equals(state.haltedTreeId());
          if (waitsForChange) {
            stillHalted.add(folder.name());
          } else {
            changed.put(folder.name(), folder.treeId());
          }
        } else if (folder.treeId().equals(state.treeId())) {
          unchanged.put(folder.name(), folder.treeId());
        } else {
          changed.put(folder.name(), folder.treeId());
        }
      }
      BatchSource.History history = changed.isEmpty() && since == null
          ? new BatchSource.History(Map.of(), Set.of())
          : source.history(tip, changed, since);
      Map<String, String> touching = new LinkedHashMap<>(history.newestTouching());
      // A folder changed and changed back since the last run: same tree, newer touching commit.
      Map<String, String> reverted = new LinkedHashMap<>();
      for (Map.Entry<String, String> e : unchanged.entrySet()) {
        if (history.touchedSince().contains(e.getKey())) {
          reverted.put(e.getKey(), e.getValue());
        }
      }
      if (!reverted.isEmpty()) {
        Map<String, String> newest = source.history(tip, reverted, null).newestTouching();
        for (Map.Entry<String, String> e : reverted.entrySet()) {
          if (!newest.get(e.getKey()).equals(states.get(e.getKey()).lastCommitSha())) {
            touching.put(e.getKey(), newest.get(e.getKey()));
            changed.put(e.getKey(), e.getValue());
            unchanged.remove(e.getKey());
          }
        }
      }

      skipped = unchanged.size();
      Map<String, NodeOutcome> byNode = new java.util.TreeMap<>();
      if (!stillHalted.isEmpty()) {
        for (NodeState state : store.haltedNodes()) {
          if (stillHalted.contains(state.node())) {
            byNode.put(state.node(), new NodeOutcome.Halted(state.node(), state.error()));
          }
        }
      }
      for (Map.Entry<String, String> e : changed.entrySet()) {
        if (stopRequested) {
          log.info("stopping before node {}: shutdown requested", e.getKey());
          break;
        }
        String node = e.getKey();
        NodeOutcome outcome = runNode(node, e.getValue(), states.get(node), touching.get(node));
        byNode.put(node, outcome);
        if (outcome instanceof NodeOutcome.Consumed && !request.dryRun()) {
          faults.reached(FaultInjector.Point.AFTER_NODE_COMMIT, node);
        }
      }
      outcomes.addAll(byNode.values());
    }

    private List<NodeFolder> selected(List<NodeFolder> all) {
      if (request.nodes().isEmpty()) {
        return all;
      }
      Set<String> missing = new HashSet<>(request.nodes());
      List<NodeFolder> result = new ArrayList<>();
      for (NodeFolder folder : all) {
        if (missing.remove(folder.name())) {
          result.add(folder);
        }
      }
      if (!missing.isEmpty()) {
        throw new UnknownNodeException("no node folder nodes/"
            + String.join(", nodes/", new java.util.TreeSet<>(missing)) + " at " + tip + "; `meterd status` lists the known nodes");
      }
      return result;
    }

    private NodeOutcome runNode(String node, String treeId, NodeStore.NodeTrack state, String touchingCommit) {
      try {
        String warning = cursorWarning(node, state);
        NodeFiles files = source.changedFiles(node, state == null ? null : state.treeId(), treeId);
        for (String path : files.ignored()) {
          log.debug("ignored {}: not a usage file", path);
        }
        ignored += files.ignored().size();
        List<ReadFile> read = new ArrayList<>();
        try {
          readAll(node, files.changed(), read);
          return applyNode(node, treeId, touchingCommit, warning, read);
        } finally {
          deleteSpooled(read);
        }
      } catch (BatchContentException e) {
        return halt(node, new NodeError(NodeError.Kind.CONTENT, e.path(), e.line() > 0 ? e.line() : null,
            e.error()), treeId);
      } catch (SourceException | LedgerException e) {
        log.debug("node {} transient failure", node, e);
        NodeOutcome halted;
        try {
          halted = halt(node, new NodeError(NodeError.Kind.TRANSIENT, null, null, e.getMessage()), null);
        } catch (LedgerException haltFailed) {
          // The database cannot take even the halt: the run stops, and the first error is its cause.
          if (e instanceof LedgerException first) {
            first.addSuppressed(haltFailed);
            throw first;
          }
          throw haltFailed;
        }
        log.warn("node {} halted until the next run: {}", node, e.getMessage());
        return halted;
      } catch (RunTotalOverflowException e) {
        // The summary's total must stay exact; alone, the node fits in the next run.
        return halt(node, new NodeError(NodeError.Kind.TRANSIENT, null, null, "the debits of this run would pass "
            + Long.MAX_VALUE + " cents in all; the node is retried by the next run"), null);
      } catch (ArithmeticException e) {
        return halt(node, new NodeError(NodeError.Kind.CONTENT, null, null,
            "the costs of this run overflow a 64-bit sum of cents"), treeId);
      } catch (RuntimeException e) {
        // A defect, not bad input: keep the node's reason, retry next run, and leave the trace.
        log.error("node {} failed unexpectedly", node, e);
        return halt(node, new NodeError(NodeError.Kind.TRANSIENT, null, null, "unexpected error: " + e), null);
      } catch (OutOfMemoryError e) {
        // The parser refuses a file whose tree would pass its budget, and the start-up check left
        // room for a file at the size limit: running out anyway means something else took the
        // heap, not that a file is bad, so the node is retried next run rather than parked. What
        // it had read is garbage once this method returns, so the run goes on to the next node.
        String message = "ran out of heap reading the node's files (the JVM has "
            + (Runtime.getRuntime().maxMemory() >> 20) + " MiB); it is retried on the next run: if it happens "
            + "again, start java with a larger -Xmx";
        log.warn("node {} halted until the next run: {}", node, message);
        return halt(node, new NodeError(NodeError.Kind.TRANSIENT, null, null, message), null);
      }
    }

    /**
     * Applies the node's read files in one ledger transaction. The write lock is taken only now,
     * with every file read and parsed: a slow source (a forge retrying a blob for minutes) must
     * not keep grants and resumes waiting.
     */
    private NodeOutcome applyNode(String node, String treeId, String touchingCommit, String warning,
        List<ReadFile> read) throws SourceException, BatchContentException {
      NodeApplied applied;
      try (NodeStore.NodeWrite write = store.beginNode(node, request.dryRun())) {
        for (ReadFile file : read) {
          UsageBatch batch = file.batch() != null ? file.batch() : parseSpooled(node, file);
          write.add(batch.path(), batch.records());
          faults.reached(FaultInjector.Point.AFTER_RECORDS, node);
        }
        if (Long.MAX_VALUE - debitedCents < write.debitedCents()) {
          throw new RunTotalOverflowException();
        }
        applied = write.commit(new NodeCursor(touchingCommit, treeId, warning), stage -> faults.reached(
            stage == NodeStore.CommitStage.LEDGER_ROWS_WRITTEN ? FaultInjector.Point.AFTER_LEDGER_ROWS
                : FaultInjector.Point.BEFORE_CURSOR, node));
      }
      debitedCents += applied.debitedCents();
      return new NodeOutcome.Consumed(node, applied.recordsConsumed(), applied.recordsDuplicate(),
          applied.debitedCents(), applied.newestOccurredAt());
    }

    /**
     * Reads and parses the node's changed files into {@code read} (the caller's list, so that it
     * removes what was spooled even when a later file fails), holding no lock of the ledger,
     * so that every content error and every slow read happens before the write lock is taken. The
     * parsed records are kept for the write up to a quarter of a file limit's worth of file bytes
     * (about 0.75 heap bytes per byte of the limit, within the margin the heap check leaves beside
     * the parse of the next file); past that, a file's bytes are spooled to a local temporary file
     * and parsed again from it under the lock, so that the lock never waits for the source.
     */
    private void readAll(String node, List<FileRef> files, List<ReadFile> read)
        throws SourceException, BatchContentException {
      long keptBytes = 0;
      for (FileRef file : files) {
        parser.checkSize(file.path(), file.sizeBytes());
        byte[] bytes = source.read(file);
        UsageBatch batch = parser.parse(file.path(), node, bytes);
        faults.reached(FaultInjector.Point.AFTER_PARSE, node);
        if (keptBytes + file.sizeBytes() <= parser.limits().maxFileBytes() / KEPT_SHARE_OF_FILE_LIMIT) {
          keptBytes += file.sizeBytes();
          read.add(new ReadFile(file, batch, null));
        } else {
          read.add(new ReadFile(file, null, spool(file, bytes)));
        }
      }
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

    private UsageBatch parseSpooled(String node, ReadFile file) throws SourceException, BatchContentException {
      try {
        return parser.parse(file.ref().path(), node, Files.readAllBytes(file.spooled()));
      } catch (IOException e) {
        throw new SourceException("cannot read the spooled copy of " + file.ref().path() + " at "
            + file.spooled() + ": " + e.getMessage(), e);
      }
    }

    private void deleteSpooled(List<ReadFile> read) {
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

    private NodeOutcome halt(String node, NodeError error, String treeId) {
      if (error.kind() == NodeError.Kind.CONTENT) {
        log.warn("node {} halted: {}{}: {}", node, error.file() == null ? "" : error.file(),
            error.line() == null ? "" : ":" + error.line(), error.message());
      }
      if (!request.dryRun()) {
        store.halt(node, error, treeId);
      }
      return new NodeOutcome.Halted(node, error);
    }
  }
}
