package dev.meterd.ledger;

import java.util.Optional;

/**
 * One open store, as the small parts its callers need: the engine's {@link NodeStore}, the
 * {@link WalletStore} for credits, the {@link PaymentStore} for top-ups and refunds, the
 * {@link UnappliedPayments} received but not credited, the {@link LedgerReads} of the API and the
 * pages, the {@link LedgerAudit} of {@code verify}, the {@link Outbox} of webhook events, the
 * {@link HoldStore} of authorize, and the run lock. {@link SqliteLedger} is the embedded store;
 * callers see only these interfaces, so a shared store (PostgreSQL) can follow.
 *
 * <p>Failures of the store itself are {@link LedgerException}s.
 */
public interface Ledger extends AutoCloseable {

  NodeStore nodeStore();

  WalletStore walletStore();

  PaymentStore payments();

  /** Payments received that credit no wallet (another currency), kept for an admin. */
  UnappliedPayments unappliedPayments();

  LedgerReads reads();

  LedgerAudit audit();

  /** The webhook outbox's delivery side: the worker's claims and outcomes, the admin's list. */
  Outbox outbox();

  /** Holds, and the credit authorize decides on. */
  HoldStore holds();

  /**
   * Takes the store's run lock; empty when another run holds it: in any process on SQLite; in this
   * one on PostgreSQL, where the daemons' runs share the nodes by {@link #leases}.
   */
  Optional<RunLock> tryLockRun();

  /** Which daemon runs which node, when several share the store; {@link NodeLeases#NONE} otherwise. */
  NodeLeases leases();

  @Override
  void close();
}
