package dev.meterd.cli;

import dev.meterd.source.git.RepoCommitter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The edge nodes of {@code serve --demo}: every few seconds one of them appends a few records to
 * its current hour's file and commits, so the admin pages show balances moving.
 */
final class DemoWriter implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(DemoWriter.class);

  private final RepoCommitter repo;
  private final Clock clock;
  private final Random random = new Random();
  private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
    Thread t = new Thread(r, "meterd-demo-writer");
    t.setDaemon(true);
    return t;
  });
  private long sequence;

  DemoWriter(RepoCommitter repo, Clock clock) {
    this.repo = repo;
    this.clock = clock;
  }

  void start(long periodSeconds) {
    timer.scheduleWithFixedDelay(this::writeSafely, periodSeconds, periodSeconds, TimeUnit.SECONDS);
  }

  private void writeSafely() {
    try {
      write();
    } catch (IOException | RuntimeException e) {
      // The demo goes on; the next tick writes again.
      log.warn("demo writer: cannot commit a batch: {}", e.getMessage());
    }
  }

  void write() throws IOException {
    String node = DemoRepoCommand.NODES[random.nextInt(DemoRepoCommand.NODES.length)];
    Instant now = clock.instant();
    String path = UsageFiles.path(node, now.truncatedTo(ChronoUnit.HOURS));
    byte[] existing = repo.read(path);
    StringBuilder sb = new StringBuilder(existing == null
        ? "schema = 1\nnode = \"" + node + "\"\n" : new String(existing, StandardCharsets.UTF_8));
    int count = 1 + random.nextInt(3);
    for (int i = 0; i < count; i++) {
      UsageFiles.record(sb, node + "/live/" + now.toEpochMilli() + "-" + sequence++,
          DemoRepoCommand.USERS[random.nextInt(DemoRepoCommand.USERS.length)], 5 + random.nextInt(60),
          now.truncatedTo(ChronoUnit.SECONDS), "llm.tokens", 100L + random.nextInt(2000));
    }
    repo.commit(node + ": " + count + " records", Map.of(path, sb.toString().getBytes(StandardCharsets.UTF_8)),
        Set.of(), now);
  }

  @Override
  public void close() {
    timer.shutdownNow();
  }
}
