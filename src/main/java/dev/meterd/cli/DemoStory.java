package dev.meterd.cli;

import dev.meterd.edge.BatchText;
import dev.meterd.ledger.Ledger;
import dev.meterd.ledger.PaymentStore;
import dev.meterd.ledger.TopupDue;
import dev.meterd.ledger.TxnType;
import dev.meterd.policy.WalletSettings;
import dev.meterd.source.git.RepoCommitter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What {@code serve --demo} shows besides the writer's steady usage, so that every admin page has
 * something to say within its first minute or two:
 *
 * <ul>
 *   <li>before the first run, the wallets are funded by grants and given policies: u_alice a
 *       monthly budget of $10.00 (about 30 % spent by the repository's first records, so the 50 %
 *       alert fires within the first minute and 80 and 100 % follow), u_bob a daily cap of $5.00
 *       (then usage is waived), u_carol an auto top-up of $25.00 below $10.00;
 *   <li>a top-up request is paid by a pretend payment provider {@value #PAY_AFTER_SECONDS} s after it
 *       was made, as a payment with its own id (so it is credited once however often it is seen);
 *   <li>node {@value #LAB_NODE} commits good records, then a file with a bad record (a negative
 *       cost: the node halts), then the same file fixed (the next run resumes it by itself).
 * </ul>
 */
final class DemoStory implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(DemoStory.class);
  static final String LAB_NODE = "edge-lab-1";
  static final String BY = "demo";
  static final long PAY_AFTER_SECONDS = 15;
  private static final int COMMIT_ATTEMPTS = 5;

  private final Path repo;
  private final String branch;
  private final Ledger ledger;
  private final Clock clock;
  private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
    Thread t = new Thread(r, "meterd-demo-story");
    t.setDaemon(true);
    return t;
  });
  /** The hour of the lab node's files, fixed when the first is written. */
  private Instant labHour;

  DemoStory(Path repo, String branch, Ledger ledger, Clock clock) {
    this.repo = repo;
    this.branch = branch;
    this.ledger = ledger;
    this.clock = clock;
  }

  /** Grants and policies, written before the first run so that its charges are measured against them. */
  void fundWallets() {
    ledger.walletStore().credit("u_alice", TxnType.GRANT, 5_000, BY, "demo: welcome credit");
    ledger.walletStore().credit("u_bob", TxnType.GRANT, 2_000, BY, "demo: welcome credit");
    ledger.walletStore().credit("u_carol", TxnType.GRANT, 1_500, BY, "demo: welcome credit");
    ledger.walletStore().updateSettings("u_alice", new WalletSettings.Patch(1_000L, null, null, null, null), BY);
    ledger.walletStore().updateSettings("u_bob", new WalletSettings.Patch(null, 500L, null, null, null), BY);
    ledger.walletStore().updateSettings("u_carol", new WalletSettings.Patch(null, null, 1_000L, 2_500L, null), BY);
  }

  /** Plays the lab node's three commits and pays open top-up requests, on a timer. */
  void start() {
    timer.schedule(() -> commitSafely("good records", this::commitGoodRecords), 10, TimeUnit.SECONDS);
    timer.schedule(() -> commitSafely("a bad record", this::commitBadRecord), 25, TimeUnit.SECONDS);
    timer.schedule(() -> commitSafely("the fix", this::commitFix), 55, TimeUnit.SECONDS);
    timer.scheduleWithFixedDelay(this::payTopupsSafely, 5, 5, TimeUnit.SECONDS);
  }

  private interface Commit {
    void run() throws IOException;
  }

  /** A commit can lose the race for the branch to a node's push: it is tried again on the new tip. */
  private void commitSafely(String what, Commit commit) {
    for (int attempt = 1; attempt <= COMMIT_ATTEMPTS; attempt++) {
      try {
        commit.run();
        log.info("demo: node {} committed {}", LAB_NODE, what);
        return;
      } catch (IOException | RuntimeException e) {
        log.warn("demo: node {} could not commit {} (attempt {}): {}", LAB_NODE, what, attempt, e.getMessage());
      }
    }
  }

  void commitGoodRecords() throws IOException {
    labHour = clock.instant().truncatedTo(ChronoUnit.HOURS);
    StringBuilder file = new StringBuilder(BatchText.header(LAB_NODE));
    Instant at = clock.instant().truncatedTo(ChronoUnit.SECONDS);
    BatchText.record(file, "lab-1", "u_alice", 40, at, "llm.tokens", 800L);
    BatchText.record(file, "lab-2", "u_carol", 35, at, "llm.tokens", 700L);
    commit("good records", BatchText.path(LAB_NODE, BatchText.hour(labHour), 0), file.toString());
  }

  void commitBadRecord() throws IOException {
    commit("a bad record: a negative cost", badFilePath(), labFile(-5));
  }

  void commitFix() throws IOException {
    commit("fix the bad record's cost", badFilePath(), labFile(5));
  }

  private String badFilePath() {
    return BatchText.path(LAB_NODE, BatchText.hour(labHour), 1);
  }

  private String labFile(long costCents) {
    StringBuilder file = new StringBuilder(BatchText.header(LAB_NODE));
    return BatchText.record(file, "lab-3", "u_bob", costCents, labHour.plusSeconds(1), "llm.tokens", 100L).toString();
  }

  private void commit(String message, String path, String content) throws IOException {
    try (RepoCommitter committer = RepoCommitter.initBare(repo, branch)) {
      committer.commit(LAB_NODE + ": " + message, Map.of(path, content.getBytes(StandardCharsets.UTF_8)), Set.of(),
          clock.instant());
    }
  }

  private void payTopupsSafely() {
    try {
      payTopups();
    } catch (RuntimeException e) {
      // The next tick tries again; a payment already recorded is recognized by its id.
      log.warn("demo: paying the top-ups due failed: {}", e.getMessage());
    }
  }

  /** Pays each top-up requested at least {@value #PAY_AFTER_SECONDS} s ago, once per request. */
  void payTopups() {
    Instant due = clock.instant().minus(Duration.ofSeconds(PAY_AFTER_SECONDS));
    for (TopupDue t : ledger.reads().topupsDue()) {
      if (t.requestedAt() != null && !t.requestedAt().isAfter(due)) {
        String paymentId = "demo_pi_" + t.userSid() + "_" + t.requestedAt().toEpochMilli();
        ledger.payments().record(new PaymentStore.Payment(paymentId, t.userSid(), TxnType.TOPUP, t.amountCents(),
            "demo-payments", "demo: auto top-up paid"));
        log.info("demo: top-up {} of {} cents paid for {}", paymentId, t.amountCents(), t.userSid());
      }
    }
  }

  @Override
  public void close() {
    timer.shutdownNow();
  }
}
