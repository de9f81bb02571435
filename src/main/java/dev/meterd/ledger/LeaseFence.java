package dev.meterd.ledger;

import java.sql.SQLException;

/** The check a node's transaction makes, before it ends, that its daemon still holds the node. */
interface LeaseFence {

  /** No leases (SQLite): every node is the run's. */
  LeaseFence NONE = (db, node, event) -> {};

  /**
   * Inside {@code db}'s open transaction: ends this daemon's claim of {@code node}, if it claimed
   * it, logging {@code event} ("commit" or "halt"); the row stays locked until the transaction ends.
   *
   * @throws LeaseLostException another daemon holds the node now: the caller rolls back
   */
  void endClaim(SqliteDb db, String node, String event) throws SQLException;
}
