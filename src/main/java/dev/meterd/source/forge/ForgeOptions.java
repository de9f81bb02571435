package dev.meterd.source.forge;

import java.time.Duration;

/**
 * How the forge source uses HTTP.
 *
 * @param connectTimeout how long a connection may take to open
 * @param requestTimeout how long a reply may stay silent before the request fails
 * @param maxAttempts tries of one request that fails with a 5xx, a 429, a reset or a timeout
 * @param backoffBase the wait before the second try; it doubles with each further try
 * @param backoffMax the longest wait between tries
 * @param maxRetryAfter the longest {@code Retry-After} honoured; a longer one fails the request
 * @param maxJsonBytes the largest JSON reply (tree pages, commit lists); blobs are bounded by
 *     their size in the tree
 * @param treePageSize entries asked per tree page (Gitea's default cap is 1,000)
 * @param commitPageSize commits asked per page of a commit list (Gitea's default cap is 50)
 * @param treeCacheEntries tree entries kept in memory, over all cached trees
 * @param blobCacheBytes file bytes kept in memory
 */
public record ForgeOptions(
    Duration connectTimeout,
    Duration requestTimeout,
    int maxAttempts,
    Duration backoffBase,
    Duration backoffMax,
    Duration maxRetryAfter,
    long maxJsonBytes,
    int treePageSize,
    int commitPageSize,
    long treeCacheEntries,
    long blobCacheBytes) {

  public static final ForgeOptions DEFAULT = new ForgeOptions(Duration.ofSeconds(10), Duration.ofSeconds(30), 4,
      Duration.ofMillis(500), Duration.ofSeconds(8), Duration.ofSeconds(60), 32L << 20, 1_000, 50, 500_000,
      64L << 20);

  public ForgeOptions {
    if (maxAttempts < 1 || treePageSize < 1 || commitPageSize < 1 || maxJsonBytes < 1) {
      throw new IllegalArgumentException("attempts, page sizes and the JSON limit must be >= 1");
    }
  }

  /** These options with other timeouts and waits between tries (tests use short ones). */
  public ForgeOptions withTimings(Duration connect, Duration request, Duration backoff, Duration retryAfterCap) {
    return new ForgeOptions(connect, request, maxAttempts, backoff, backoff.multipliedBy(8), retryAfterCap,
        maxJsonBytes, treePageSize, commitPageSize, treeCacheEntries, blobCacheBytes);
  }

  /**
   * These options with the configured transport timeout ({@code [source] timeout_seconds}): a
   * reply may stay silent that long, and connecting may take that long or the default connect
   * timeout, whichever is shorter.
   */
  public ForgeOptions withTimeout(Duration timeout) {
    Duration connect = timeout.compareTo(connectTimeout) < 0 ? timeout : connectTimeout;
    return new ForgeOptions(connect, timeout, maxAttempts, backoffBase, backoffMax, maxRetryAfter,
        maxJsonBytes, treePageSize, commitPageSize, treeCacheEntries, blobCacheBytes);
  }

  /** These options with another JSON reply limit and page sizes. */
  public ForgeOptions withPaging(long jsonBytes, int treePage, int commitPage) {
    return new ForgeOptions(connectTimeout, requestTimeout, maxAttempts, backoffBase, backoffMax, maxRetryAfter,
        jsonBytes, treePage, commitPage, treeCacheEntries, blobCacheBytes);
  }
}
