package dev.meterd.ledger;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.meterd.policy.WalletSettings;

/**
 * Committed wallets' ids and policies, in front of the wallet table for the node write's
 * per-record lookups. Only a speed-up: a miss reads the table. A policy changed by this process
 * is dropped after its write; a commit by any other connection (a CLI {@code wallet set} beside
 * the daemon) drops everything, noticed by {@code PRAGMA data_version} before each node's run.
 * Call only holding the store's {@link SqliteDb}.
 */
final class SqliteWalletCache {

  /** A wallet as the node write needs it. */
  record Entry(long walletId, WalletSettings settings) {}

  private final Cache<String, Entry> entries = Caffeine.newBuilder().maximumSize(100_000).build();
  private long dataVersion = Long.MIN_VALUE;

  Entry get(String userSid) {
    return entries.getIfPresent(userSid);
  }

  void put(String userSid, Entry entry) {
    entries.put(userSid, entry);
  }

  void invalidate(String userSid) {
    entries.invalidate(userSid);
  }

  void invalidateAll() {
    entries.invalidateAll();
  }

  /** Drops everything when another connection has committed since the last call. */
  void sync(long currentDataVersion) {
    if (currentDataVersion != dataVersion) {
      entries.invalidateAll();
      dataVersion = currentDataVersion;
    }
  }
}
