package dev.meterd.engine;

import dev.meterd.ledger.LedgerException;
import dev.meterd.ledger.NodeLeases;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A run's claims on its nodes, when several daemons share the store: before the reader reads a
 * node, the run claims it (with the next nodes of the plan, {@value #WINDOW} at a time, so that
 * daemons polling together share the work rather than one taking it all), and a node another
 * daemon holds is left to it. While the run lasts its leases are renewed; at its end, those it did
 * not end by a commit or a halt are given back. On a store no other process shares, every node is
 * the run's and nothing is claimed.
 */
final class NodeClaims implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(NodeClaims.class);

  /** How many nodes of the plan one claim asks for. */
  static final int WINDOW = 32;

  private final NodeLeases leases;
  private final List<NodeReader.Planned> plan;
  private final boolean claiming;
  /** The reader's: the nodes this run may read. */
  private final Set<String> ours = new HashSet<>();
  /** Every node claimed, for the give-back at the end. */
  private final List<String> claimed = Collections.synchronizedList(new ArrayList<>());
  private final AtomicInteger leftToOthers = new AtomicInteger();
  private int claimedUpTo;
  private ScheduledExecutorService renewer;

  /** Claims nothing when {@code unclaimed}: a dry run writes nothing, not even a claim. */
  NodeClaims(NodeLeases leases, List<NodeReader.Planned> plan, boolean unclaimed) {
    this.leases = leases;
    this.plan = plan;
    this.claiming = leases.shared() && !unclaimed;
  }

  /**
   * Whether the run may read and apply the plan's node at {@code index}; called by the reader, in
   * the plan's order.
   *
   * @throws LedgerException the claim failed (the database is unreachable): the run ends with it
   */
  boolean mayRead(int index) {
    if (!claiming) {
      return true;
    }
    if (index >= claimedUpTo) {
      claimFrom(index);
    }
    return ours.contains(plan.get(index).node());
  }

  private void claimFrom(int from) {
    int to = Math.min(plan.size(), from + WINDOW);
    List<NodeReader.Planned> window = plan.subList(from, to);
    NodeLeases.Claimed got = leases.claim(window.stream().map(NodeReader.Planned::node).toList());
    claimed.addAll(got.epochs().keySet());
    List<String> moved = new ArrayList<>();
    for (NodeReader.Planned p : window) {
      if (!got.epochs().containsKey(p.node())) {
        leftToOthers.incrementAndGet();
      } else if (!Objects.equals(got.tracks().get(p.node()), p.state())) {
        // Another daemon ran it after this run read the cursors: the run's plan for it is stale,
        // and the next run plans it again from the cursor that daemon left.
        moved.add(p.node());
        leftToOthers.incrementAndGet();
      } else {
        ours.add(p.node());
      }
    }
    if (!moved.isEmpty()) {
      leases.release(moved);
    }
    claimedUpTo = to;
    startRenewing();
  }

  private synchronized void startRenewing() {
    if (renewer != null) {
      return;
    }
    renewer = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "meterd-lease-renewer");
      t.setDaemon(true);
      return t;
    });
    long every = Math.max(1, leases.term().toMillis() / 3);
    renewer.scheduleWithFixedDelay(this::renew, every, every, TimeUnit.MILLISECONDS);
  }

  /** Renews the run's own leases only: one an earlier run left held lapses, for any daemon to take. */
  private void renew() {
    try {
      List<String> mine;
      synchronized (claimed) {
        mine = List.copyOf(claimed);
      }
      leases.renew(mine);
    } catch (LedgerException e) {
      // The fence keeps the ledger right without it: a node whose lease lapses and is taken is
      // refused at its commit. The next renewal tries again.
      log.warn("the leases of {} could not be renewed: {}", leases.holder(), e.getMessage());
    }
  }

  /** How many of the plan's nodes were left to other daemons. */
  int leftToOthers() {
    return leftToOthers.get();
  }

  /** Stops renewing, and gives back the leases the run still holds (nodes it did not reach). */
  @Override
  public void close() {
    synchronized (this) {
      if (renewer != null) {
        renewer.shutdownNow();
      }
    }
    if (!claiming || claimed.isEmpty()) {
      return;
    }
    try {
      List<String> all;
      synchronized (claimed) {
        all = List.copyOf(claimed);
      }
      leases.release(all);
    } catch (LedgerException e) {
      log.warn("the leases of {} nodes could not be given back ({}); they lapse in {} s", claimed.size(),
          e.getMessage(), leases.term().toSeconds());
    }
  }
}
