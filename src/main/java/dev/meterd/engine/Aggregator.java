package dev.meterd.engine;

import dev.meterd.batch.BatchParser;
import dev.meterd.ledger.Ledger;
import dev.meterd.ledger.LedgerException;
import dev.meterd.ledger.NodeError;
import dev.meterd.ledger.NodeLeases;
import dev.meterd.ledger.NodeState;
import dev.meterd.ledger.NodeStore;
import dev.meterd.ledger.RunLock;
import dev.meterd.source.BatchSource;
import dev.meterd.source.BatchSource.NodeFolder;
import dev.meterd.source.SourceException;
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
   * lock, nor claim its nodes' leases (PostgreSQL), so that a test can put two runs on one database
   * at once and show that the consumed-record primary key alone charges each record once. Never
   * set in production: the lock and the leases are what keep a second run from reading and parsing
   * every file for nothing.
   */
  static final String IGNORE_RUN_LOCK_PROPERTY = "meterd.test.ignoreRunLock";

  private final BatchSource source;
  private final NodeStore store;
  private final NodeLeases leases;
  /** Takes the store's run lock: empty when another run holds it. */
  private final Supplier<Optional<RunLock>> runLock;
  private final BatchParser parser;
  private final Clock clock;
  private final FaultInjector faults;
  private final GroupBounds groups;
  private volatile boolean stopRequested;

  public Aggregator(BatchSource source, Ledger ledger, BatchParser parser, Clock clock, FaultInjector faults) {
    this(source, ledger, parser, clock, faults, GroupBounds.DEFAULT);
  }

  /** As the other, with the bounds at which a group of nodes commits. */
  public Aggregator(BatchSource source, Ledger ledger, BatchParser parser, Clock clock, FaultInjector faults,
      GroupBounds groups) {
    this.groups = groups;
    this.source = source;
    this.store = ledger.nodeStore();
    this.leases = ledger.leases();
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
    if (everyNode && !request.dryRun() && !stopRequested && run.complete) {
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

  /** The state of one run in progress. */
  private final class Run {
    private final RunRequest request;
    private final String tip;
    private final String since;
    final List<NodeOutcome> outcomes = new ArrayList<>();
    int skipped;
    int ignored;
    /** Whether every changed node was applied (not so after a stop or an interrupt). */
    boolean complete;

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
      List<NodeReader.Planned> plan = new ArrayList<>();
      for (Map.Entry<String, String> e : changed.entrySet()) {
        plan.add(new NodeReader.Planned(e.getKey(), e.getValue(), states.get(e.getKey()), touching.get(e.getKey())));
      }
      NodeReader reader = new NodeReader(source, parser, faults, tip);
      boolean claiming = !request.dryRun() && !Boolean.getBoolean(IGNORE_RUN_LOCK_PROPERTY);
      try (NodeClaims claims = new NodeClaims(leases, plan, !claiming)) {
        GroupWriter writer = new GroupWriter(store, reader, faults, groups, request.dryRun(), () -> stopRequested,
            byNode);
        complete = writer.run(plan, claims);
        // Nodes another daemon held, or took over, are its to apply: they are skipped here, and a
        // run that skipped any does not cover them with its mark.
        int others = claims.leftToOthers() + writer.takenOver();
        skipped += others;
        complete &= others == 0;
      }
      ignored += reader.ignored.get();
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

  }
}
