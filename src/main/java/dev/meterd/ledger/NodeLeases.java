package dev.meterd.ledger;

import java.time.Instant;
import java.util.List;
import java.util.Map;

/**
 * Which daemon runs which node, when several share one database: a node is run only by the daemon
 * that claimed its lease, and the node's transaction writes only while the lease still holds the
 * epoch it claimed ({@link LeaseLostException} otherwise). A lease's expiry is by the database's
 * clock, so the daemons' own clocks never decide who holds a node.
 *
 * <p>On SQLite one process runs at a time (the run lock) and {@link #shared} is false: nothing is
 * claimed, every node is the run's.
 */
public interface NodeLeases {

  /** Leases for a store that only one process runs on: every node is the run's, nothing is written. */
  NodeLeases NONE = new NodeLeases() {
    @Override
    public boolean shared() {
      return false;
    }

    @Override
    public String holder() {
      return null;
    }

    @Override
    public java.time.Duration term() {
      return java.time.Duration.ZERO;
    }

    @Override
    public Claimed claim(List<String> nodes) {
      throw new IllegalStateException("leases are not shared on this store: every node is the run's");
    }

    @Override
    public int renew(List<String> nodes) {
      return 0;
    }

    @Override
    public int release(List<String> nodes) {
      return 0;
    }

    @Override
    public int releaseAll() {
      return 0;
    }

    @Override
    public List<Lease> leases() {
      return List.of();
    }

    @Override
    public long takeovers() {
      return 0;
    }
  };

  /**
   * A node's lease as the database holds it.
   *
   * @param holder the daemon holding it, or null when given back
   * @param expiresAt when it lapses unless renewed, by the database's clock
   * @param live whether it had not lapsed when read
   */
  record Lease(String node, String holder, long epoch, Instant expiresAt, boolean live) {}

  /**
   * What a claim took.
   *
   * @param epochs the nodes claimed, with the epoch each claim gave them
   * @param tracks each claimed node's track as of the claim, absent for a node never run: from the
   *     claim on, no other daemon can move it
   */
  record Claimed(Map<String, Long> epochs, Map<String, NodeStore.NodeTrack> tracks) {}

  /** Whether several processes share the store, so that nodes are claimed before they are run. */
  boolean shared();

  /** This daemon's name in the leases: unique to this process. */
  String holder();

  /** How long a claim lasts unless renewed. */
  java.time.Duration term();

  /**
   * Claims those of {@code nodes} that no daemon holds, or whose lease lapsed, in one transaction
   * that never waits for a lease another daemon is claiming or writing under.
   */
  Claimed claim(List<String> nodes);

  /**
   * Extends the leases of those of {@code nodes} this daemon holds (and no one is writing under);
   * returns how many. Only a run's own: a lease an earlier run failed to give back must lapse, or
   * no daemon would ever take its node while this one keeps running.
   */
  int renew(List<String> nodes);

  /** Gives back the leases of {@code nodes} this daemon still holds; returns how many. */
  int release(List<String> nodes);

  /** Gives back every lease this daemon holds (a clean stop); returns how many. */
  int releaseAll();

  /** Every node's lease, held or given back, in node order. */
  List<Lease> leases();

  /** How many lapsed leases of another holder this daemon has taken over. */
  long takeovers();
}
