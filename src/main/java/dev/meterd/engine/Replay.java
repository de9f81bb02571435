package dev.meterd.engine;

import dev.meterd.batch.BatchContentException;
import dev.meterd.batch.BatchParser;
import dev.meterd.ledger.Ledger;
import dev.meterd.ledger.LedgerAudit;
import dev.meterd.ledger.NodeCursor;
import dev.meterd.ledger.NodeState;
import dev.meterd.ledger.NodeStore;
import dev.meterd.ledger.Violation;
import dev.meterd.source.BatchSource;
import dev.meterd.source.BatchSource.FileRef;
import dev.meterd.source.SourceException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Rebuilds the ledger's consumed records from the repository's history into a scratch ledger
 * and compares the two, record by record per node: the proof that nothing was lost or doubled.
 *
 * <p>Implementation notes. A successful run of a node at commit C leaves every record of the
 * node's usage files at C consumed (the files it read at C, and the unchanged ones, consumed
 * when they last changed), and consumes nothing that is not in a file at C. So the live
 * consumed set of a node must equal the union of the records in its files at each commit a
 * charge names, plus its cursor commit. The replay reads exactly those snapshots, oldest first,
 * through the same parser and the same dedup into a fresh ledger. Records the live ledger holds
 * that no such snapshot has are unexplained; records a snapshot has that the live ledger lacks
 * were lost; either is a violation.
 */
public final class Replay {

  static final int MAX_PER_RULE = 50;

  private final BatchSource source;
  private final Ledger live;
  private final Ledger scratch;
  private final BatchParser parser;
  private final List<Violation> violations = new ArrayList<>();
  private final Map<String, Integer> perRule = new HashMap<>();
  private long replayed;
  /**
   * The scratch ledger's writes go in groups, as a run's do, rather than a durable transaction per
   * node and commit; compare reads them on the same connection.
   */
  private NodeStore.NodeGroup group;

  public Replay(BatchSource source, Ledger live, Ledger scratch, BatchParser parser) {
    this.source = source;
    this.live = live;
    this.scratch = scratch;
    this.parser = parser;
  }

  /**
   * Runs the replay; returns the violations found (empty when the ledger is explained exactly).
   * The live ledger is read in one snapshot: a run that commits meanwhile (the daemon keeps
   * running) is seen whole or not at all, never as records whose charge was read before them.
   */
  public List<Violation> run() throws SourceException {
    return live.audit().readSnapshot(this::replayAll);
  }

  private List<Violation> replayAll() throws SourceException {
    Map<String, Set<String>> chargeCommits = live.audit().chargeCommits();
    try {
      for (NodeState node : live.reads().nodes().values()) {
        replayNode(node, chargeCommits.getOrDefault(node.node(), Set.of()));
        compare(node.node());
        if (group != null && group.records() >= GroupBounds.DEFAULT.maxRecords()) {
          group.commit();
          group = null;
        }
      }
      if (group != null) {
        group.commit();
      }
    } finally {
      if (group != null) {
        group.close();
        group = null;
      }
    }
    for (Map.Entry<String, Integer> e : perRule.entrySet()) {
      if (e.getValue() > MAX_PER_RULE) {
        violations.add(new Violation(e.getKey(), (e.getValue() - MAX_PER_RULE) + " more violations of "
            + e.getKey() + " not listed"));
      }
    }
    return violations;
  }

  /** Records read from history by the last {@link #run}. */
  public long recordsReplayed() {
    return replayed;
  }

  private void replayNode(NodeState node, Set<String> chargeCommits) throws SourceException {
    Set<String> commits = new HashSet<>(chargeCommits);
    if (node.lastCommitSha() != null) {
      commits.add(node.lastCommitSha());
    }
    List<String> ordered = source.oldestFirst(commits);
    Set<String> found = new HashSet<>(ordered);
    for (String missing : commits) {
      if (!found.contains(missing)) {
        add("replay_missing_commit", "commit " + missing + " of node " + node.node()
            + " is not in the repository (history rewritten and collected?); its records cannot be replayed");
      }
    }
    for (String commit : ordered) {
      String tree = source.nodeTreeAt(commit, node.node());
      if (tree == null) {
        add("replay_missing_commit", "commit " + commit + " has no folder nodes/" + node.node());
        continue;
      }
      if (group == null) {
        group = scratch.nodeStore().beginGroup(false);
      }
      try (NodeStore.NodeWrite write = group.beginNode(node.node())) {
        for (FileRef file : source.changedFiles(node.node(), null, tree).changed()) {
          parser.checkSize(file.path(), file.sizeBytes());
          var batch = parser.parse(file.path(), node.node(), source.read(file));
          replayed += batch.records().size();
          write.add(file.path(), batch.records());
        }
        write.commit(new NodeCursor(commit, tree, null));
      } catch (BatchContentException e) {
        add("replay_content", "node " + node.node() + " at " + commit + ": " + e.getMessage());
      }
    }
  }

  private void compare(String node) {
    Map<String, LedgerAudit.Consumed> expected = new HashMap<>();
    scratch.audit().forEachConsumed(node, c -> expected.put(c.key(), c));
    live.audit().forEachConsumed(node, c -> {
      LedgerAudit.Consumed replay = expected.remove(c.key());
      if (replay == null) {
        add("replay_unexplained", "record " + c.key() + " of node " + node + " is consumed, but no file of the "
            + "commits its node's charges name holds it");
      } else if (!replay.equals(c)) {
        add("replay_differs", "record " + c.key() + " of node " + node + " was consumed for " + c.userSid()
            + " at " + c.costCents() + " cents; history says " + replay.userSid() + " at " + replay.costCents());
      }
    });
    for (LedgerAudit.Consumed lost : expected.values()) {
      add("replay_lost", "record " + lost.key() + " of node " + node + " is in the node's files at a consumed "
          + "commit but was never consumed");
    }
  }

  private void add(String rule, String message) {
    int n = perRule.merge(rule, 1, Integer::sum);
    if (n <= MAX_PER_RULE) {
      violations.add(new Violation(rule, message));
    }
  }
}
