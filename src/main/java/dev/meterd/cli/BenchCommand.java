package dev.meterd.cli;

import dev.meterd.batch.BatchParser;
import dev.meterd.edge.BatchText;
import dev.meterd.engine.Aggregator;
import dev.meterd.engine.FaultInjector;
import dev.meterd.engine.RunRequest;
import dev.meterd.engine.RunSummary;
import dev.meterd.ledger.SqliteLedger;
import dev.meterd.source.git.GitBatchSource;
import dev.meterd.source.git.RepoCommitter;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

@Command(name = "bench", mixinStandardHelpOptions = true,
    description = {"Measures meterd on a synthetic usage repository (nodes x files x records, random UUID keys):",
        "records/s of a full run, ms of a poll with no change and of a poll where 10 nodes changed, peak heap.",
        "Run it as `java -Xmx256m -jar target/meterd.jar bench` to check the memory bound."},
    subcommands = {BenchCommand.Parse.class, BenchCommand.Keys.class, AuthorizeBench.class})
final class BenchCommand implements Callable<Integer> {

  @ParentCommand
  Main main;

  @Option(names = "--nodes", defaultValue = "10000", description = "Node folders (default ${DEFAULT-VALUE})")
  int nodes;

  @Option(names = "--files", defaultValue = "2", description = "Hour files per node (default ${DEFAULT-VALUE})")
  int files;

  @Option(names = "--records", defaultValue = "50", description = "Records per file (default ${DEFAULT-VALUE})")
  int records;

  @Option(names = "--commits", defaultValue = "200", description = "Commits of history (default ${DEFAULT-VALUE})")
  int commits;

  @Option(names = "--users", defaultValue = "1000", description = "Distinct wallets (default ${DEFAULT-VALUE})")
  int users;

  @Option(names = "--polls", defaultValue = "20", description = "Polls to time of each kind (default ${DEFAULT-VALUE})")
  int polls;

  @Option(names = "--dir", description = "Work folder (default: a new temp folder, removed at the end)")
  Path dir;

  @Override
  public Integer call() throws Exception {
    if (nodes < 10 || files < 1 || records < 1 || commits < 1 || users < 1 || polls < 1) {
      throw new UsageException("bench needs --nodes >= 10 and --files, --records, --commits, --users, --polls >= 1");
    }
    sink = main.out;
    Path work = dir != null ? Files.createDirectories(dir) : Files.createTempDirectory("meterd-bench");
    try {
      return bench(work);
    } finally {
      if (dir == null) {
        deleteTree(work);
      }
    }
  }

  private int bench(Path work) throws Exception {
    long total = (long) nodes * files * records;
    say("machine: %d cores, max heap %d MiB, java %s", Runtime.getRuntime().availableProcessors(),
        Runtime.getRuntime().maxMemory() >> 20, System.getProperty("java.version"));
    say("generating %d nodes x %d files x %d records = %d records in %d commits ...", nodes, files, records, total,
        commits);
    long genStart = System.nanoTime();
    Random random = new Random(42);
    Path repoDir = work.resolve("usage.git");
    try (RepoCommitter repo = RepoCommitter.initBare(repoDir, "main")) {
      generate(repo, random);
      // A served repository is packed (a push arrives as a pack); loose objects would make every
      // read a file open and an inflate, which no real deployment pays.
      org.eclipse.jgit.api.Git.wrap(repo.repository()).gc().call();
      say("generated and packed in %.1f s", seconds(genStart));

      Clock clock = Clock.tick(Clock.systemUTC(), java.time.Duration.ofMillis(1));
      try (SqliteLedger ledger = SqliteLedger.open(work.resolve("bench.db"), clock);
          GitBatchSource source = GitBatchSource.open(repoDir.toString(), "main", work.resolve("clone"),
              Optional.empty())) {
        Aggregator aggregator = new Aggregator(source, ledger, new BatchParser(BatchParser.Limits.DEFAULT), clock,
            FaultInjector.NONE);
        System.gc();
        resetPeaks();
        long start = System.nanoTime();
        RunSummary full = aggregator.run(RunRequest.ALL);
        double fullSeconds = seconds(start);
        long peakHeap = peakHeapBytes();
        if (full.recordsConsumed() != total || !full.halted().isEmpty()) {
          throw new IllegalStateException("the full run consumed " + full.recordsConsumed() + " of " + total
              + " records, halted " + full.halted().size());
        }
        say("full run: %d records in %.2f s = %.0f records/s; peak heap %d MiB", total, fullSeconds,
            total / fullSeconds, peakHeap >> 20);

        double[] noChange = new double[polls];
        for (int i = 0; i < polls; i++) {
          long t = System.nanoTime();
          RunSummary s = aggregator.run(RunRequest.ALL);
          noChange[i] = millis(t);
          check(s.nodesSkipped() == nodes, "a no-change poll skipped " + s.nodesSkipped());
        }
        say("no-change poll of %d nodes: median %.2f ms, max %.2f ms (%d polls)", nodes, median(noChange),
            max(noChange), polls);

        double[] tenChanged = new double[Math.min(polls, 10)];
        for (int i = 0; i < tenChanged.length; i++) {
          changeTenNodes(repo, random, i);
          long t = System.nanoTime();
          RunSummary s = aggregator.run(RunRequest.ALL);
          tenChanged[i] = millis(t);
          check(s.nodesConsumed() == 10 && s.recordsConsumed() == 10L * records,
              "a 10-node poll consumed " + s.nodesConsumed() + " nodes, " + s.recordsConsumed() + " records");
        }
        say("poll where 10 of %d nodes changed (%d records each): median %.2f ms, max %.2f ms (%d polls)", nodes,
            records, median(tenChanged), max(tenChanged), tenChanged.length);
        long verifyStart = System.nanoTime();
        int violations = ledger.audit().verify().size();
        say("verify: %d violations in %.2f s", violations, seconds(verifyStart));
        long replayStart = System.nanoTime();
        try (SqliteLedger scratch = SqliteLedger.open(work.resolve("replay.db"), clock)) {
          dev.meterd.engine.Replay replay = new dev.meterd.engine.Replay(source, ledger, scratch,
              new BatchParser(BatchParser.Limits.DEFAULT));
          int replayViolations = replay.run().size();
          say("verify --replay: %d records replayed from history, %d violations, in %.2f s",
              replay.recordsReplayed(), replayViolations, seconds(replayStart));
        }
      }
    }
    return ExitCodes.OK;
  }

  private void generate(RepoCommitter repo, Random random) throws IOException {
    Instant hour = Instant.parse("2026-11-21T00:00:00Z");
    int perCommit = (nodes + commits - 1) / commits;
    int commitNo = 0;
    for (int first = 0; first < nodes; first += perCommit) {
      Map<String, byte[]> writes = new LinkedHashMap<>();
      for (int n = first; n < Math.min(nodes, first + perCommit); n++) {
        for (int f = 0; f < files; f++) {
          Instant at = hour.plus(f, ChronoUnit.HOURS);
          writes.put(BatchText.path(nodeName(n), at), batch(random, at).getBytes(StandardCharsets.UTF_8));
        }
      }
      repo.commit("usage " + commitNo, writes, Set.of(), hour.plusSeconds(60L * commitNo++));
    }
  }

  private void changeTenNodes(RepoCommitter repo, Random random, int round) throws IOException {
    Map<String, byte[]> writes = new LinkedHashMap<>();
    Instant at = Instant.parse("2026-11-22T00:00:00Z").plus(round, ChronoUnit.HOURS);
    for (int i = 0; i < 10; i++) {
      int n = (round * 10 + i) * (nodes / 10 / Math.max(1, Math.min(polls, 10))) % nodes;
      writes.put(BatchText.path(nodeName((n + i) % nodes), at), batch(random, at).getBytes(StandardCharsets.UTF_8));
    }
    repo.commit("change 10 nodes " + round, writes, Set.of(), Instant.parse("2026-11-23T00:00:00Z").plusSeconds(round));
  }

  private static String nodeName(int n) {
    return String.format("edge-%05d", n);
  }

  private String batch(Random random, Instant hour) {
    StringBuilder sb = new StringBuilder(records * 180).append("schema = 1\n");
    for (int r = 0; r < records; r++) {
      BatchText.record(sb, new UUID(random.nextLong(), random.nextLong()).toString(),
          "u_" + random.nextInt(users), 1 + random.nextInt(1000), hour.plusSeconds(r), "llm.tokens",
          (long) random.nextInt(5000));
    }
    return sb.toString();
  }

  private static void check(boolean ok, String message) {
    if (!ok) {
      throw new IllegalStateException("benchmark run was wrong: " + message);
    }
  }

  private static void resetPeaks() {
    ManagementFactory.getMemoryPoolMXBeans().forEach(MemoryPoolMXBean::resetPeakUsage);
  }

  private static long peakHeapBytes() {
    return ManagementFactory.getMemoryPoolMXBeans().stream()
        .filter(p -> p.getType() == MemoryType.HEAP)
        .mapToLong(p -> p.getPeakUsage().getUsed())
        .sum();
  }

  private static double seconds(long startNanos) {
    return (System.nanoTime() - startNanos) / 1e9;
  }

  private static double millis(long startNanos) {
    return (System.nanoTime() - startNanos) / 1e6;
  }

  private static double median(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    return sorted[sorted.length / 2];
  }

  private static double max(double[] values) {
    return Arrays.stream(values).max().orElse(0);
  }

  /** Where the figures go: the command's stdout. */
  private static PrintStream sink = System.out;

  /** Sends the figures of the command running to {@code out}. */
  static void useSink(PrintStream out) {
    sink = out;
  }

  static void say(String format, Object... args) {
    sink.println(String.format(java.util.Locale.ROOT, format, args));
  }

  static void deleteTree(Path root) throws IOException {
    if (!Files.exists(root)) {
      return;
    }
    try (Stream<Path> paths = Files.walk(root)) {
      for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }

  @Command(name = "parse", mixinStandardHelpOptions = true,
      description = "Compares batch parsers on one generated file: meterd's own and tomlj (Jackson's TOML module is "
          + "compared by the test-scope ParserComparison, kept out of the runtime jar).")
  static final class Parse implements Callable<Integer> {

    @ParentCommand
    BenchCommand parent;

    @Option(names = "--records", defaultValue = "20000", description = "Records in the file (default ${DEFAULT-VALUE})")
    int records;

    @Option(names = "--rounds", defaultValue = "10", description = "Timed rounds per parser (default ${DEFAULT-VALUE})")
    int rounds;

    @Override
    public Integer call() throws Exception {
      sink = parent.main.out;
      byte[] file = file();
      say("one file of %d records, %d KiB; best of %d rounds after warm-up", records, file.length >> 10, rounds);
      BatchParser ours = new BatchParser(BatchParser.Limits.DEFAULT);
      measure("meterd (strict TOML 1.0, validated records)", () -> ours.parse(
          "nodes/n/usage_2026-11-21-10.toml", "n", file).records().size());
      measure("tomlj (tree only, no validation)", () -> org.tomlj.Toml.parse(
          new String(file, StandardCharsets.UTF_8)).getArray("records").size());
      return ExitCodes.OK;
    }

    /** Generates the file that is parsed: {@code records} records of 1,000 users. */
    byte[] file() {
      BenchCommand gen = new BenchCommand();
      gen.records = records;
      gen.users = 1000;
      return gen.batch(new Random(7), Instant.parse("2026-11-21T10:00:00Z")).getBytes(StandardCharsets.UTF_8);
    }

    interface Parser {
      int parse() throws Exception;
    }

    void measure(String name, Parser parser) throws Exception {
      for (int i = 0; i < 3; i++) {
        check(parser.parse() == records, name + " read a wrong number of records");
      }
      double best = Double.MAX_VALUE;
      for (int i = 0; i < rounds; i++) {
        long t = System.nanoTime();
        parser.parse();
        best = Math.min(best, seconds(t));
      }
      say("%-52s %,12.0f records/s", name, records / best);
    }
  }

  @Command(name = "keys", mixinStandardHelpOptions = true,
      description = "Consumes records into a fresh ledger with random (UUID v4) and with time-ordered (UUID v7, "
          + "as `record` makes them) idempotency keys: records/s as the consumed-record index grows.")
  static final class Keys implements Callable<Integer> {

    @ParentCommand
    BenchCommand parent;

    @Option(names = "--records", defaultValue = "2000000", description = "Records per kind (default ${DEFAULT-VALUE})")
    int records;

    @Option(names = "--batch", defaultValue = "10000", description = "Records per node run (default ${DEFAULT-VALUE})")
    int batch;

    @Override
    public Integer call() throws Exception {
      sink = parent.main.out;
      say("%d records per kind, %d per node run (one transaction), 100 wallets", records, batch);
      Random random = new Random(11);
      var ordered = new dev.meterd.edge.Keys(Clock.systemUTC());
      double randomRate = run("random keys (UUID v4)", () -> new UUID(random.nextLong(), random.nextLong()).toString());
      double orderedRate = run("time-ordered keys (UUID v7)", ordered::next);
      say("time-ordered keys: %.1fx the records/s of random ones once the index has %d entries", orderedRate / randomRate,
          records / 2);
      return ExitCodes.OK;
    }

    /** Records/s over the second half of the records, when the index is large. */
    private double run(String name, java.util.function.Supplier<String> keys) throws Exception {
      Path dir = Files.createTempDirectory("meterd-bench-keys");
      try (SqliteLedger ledger = SqliteLedger.open(dir.resolve("keys.db"), Clock.systemUTC())) {
        Instant at = Instant.parse("2026-11-21T10:00:00Z");
        long secondHalfStart = 0;
        long start = System.nanoTime();
        for (int done = 0; done < records; done += batch) {
          if (done == records / 2) {
            secondHalfStart = System.nanoTime();
          }
          java.util.List<dev.meterd.batch.UsageRecord> rs = new java.util.ArrayList<>(batch);
          for (int i = 0; i < batch; i++) {
            rs.add(new dev.meterd.batch.UsageRecord(keys.get(), "u" + (i % 100), 1, at, null, null, i + 1));
          }
          try (var write = ledger.nodeStore().beginNode("bench", false)) {
            write.add("nodes/bench/usage_2026-11-21-10.toml", rs);
            write.commit(new dev.meterd.ledger.NodeCursor("0".repeat(40), "0".repeat(40), null));
          }
        }
        double all = records / seconds(start);
        double secondHalf = (records - records / 2) / seconds(secondHalfStart);
        say("%-30s %,10.0f records/s overall, %,10.0f records/s over the second half", name, all, secondHalf);
        return secondHalf;
      } finally {
        deleteTree(dir);
      }
    }
  }
}
