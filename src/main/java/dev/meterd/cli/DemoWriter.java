package dev.meterd.cli;

import dev.meterd.edge.EdgeException;
import dev.meterd.edge.Usage;
import dev.meterd.edge.UsageWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.eclipse.jgit.api.Git;
import org.eclipse.jgit.api.errors.GitAPIException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The edge nodes of {@code serve --demo}: each has its own clone of the demo repository, and every
 * few seconds one of them records a few usages with {@link UsageWriter} and pushes, as a real
 * node would, so the admin pages show balances moving.
 */
final class DemoWriter implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(DemoWriter.class);
  private static final UsageWriter.PushPolicy PUSH = new UsageWriter.PushPolicy(5, Duration.ofMillis(100),
      Duration.ofSeconds(1));

  private final Map<String, UsageWriter> writers = new HashMap<>();
  private final Clock clock;
  private final Random random = new Random();
  private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
    Thread t = new Thread(r, "meterd-demo-writer");
    t.setDaemon(true);
    return t;
  });

  /** Clones the repository at {@code repo} once per demo node, into {@code edgeDir/NODE}. */
  DemoWriter(Path repo, Path edgeDir, Clock clock) throws EdgeException {
    this.clock = clock;
    for (String node : DemoRepoCommand.NODES) {
      Path clone = edgeDir.resolve(node);
      if (!Files.isDirectory(clone.resolve(".git"))) {
        try (Git git = Git.cloneRepository().setURI(repo.toUri().toString()).setDirectory(clone.toFile()).call()) {
          log.debug("demo node {} cloned {} into {}", node, repo, clone);
        } catch (GitAPIException e) {
          throw new EdgeException("cannot clone the demo repository for node " + node + ": " + e.getMessage(), e);
        }
      }
      writers.put(node, UsageWriter.open(clone, node, clock));
    }
  }

  void start(long periodSeconds) {
    timer.scheduleWithFixedDelay(this::writeSafely, periodSeconds, periodSeconds, TimeUnit.SECONDS);
  }

  private void writeSafely() {
    try {
      write();
    } catch (EdgeException | RuntimeException e) {
      // The demo goes on; the next tick writes again, and its push sends what this one left.
      log.warn("demo writer: {}", e.getMessage());
    }
  }

  void write() throws EdgeException {
    String node = DemoRepoCommand.NODES[random.nextInt(DemoRepoCommand.NODES.length)];
    Instant now = clock.instant().truncatedTo(ChronoUnit.SECONDS);
    List<Usage> usages = new ArrayList<>();
    for (int i = 1 + random.nextInt(3); i > 0; i--) {
      usages.add(new Usage(DemoRepoCommand.USERS[random.nextInt(DemoRepoCommand.USERS.length)],
          5 + random.nextInt(60), now, null, "llm.tokens", 100L + random.nextInt(2000)));
    }
    UsageWriter writer = writers.get(node);
    writer.record(usages);
    writer.push(Optional.empty(), PUSH);
  }

  @Override
  public void close() {
    timer.shutdownNow();
  }
}
