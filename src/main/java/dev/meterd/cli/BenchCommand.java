package dev.meterd.cli;

import dev.meterd.batch.BatchParser;
import dev.meterd.edge.BatchText;
import dev.meterd.engine.Aggregator;
import dev.meterd.engine.FaultInjector;
import dev.meterd.engine.GroupBounds;
import dev.meterd.engine.NodeOutcome;
import dev.meterd.engine.RunRequest;
import dev.meterd.engine.RunSummary;
import dev.meterd.ledger.NodeStore;
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
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

@Command(name = "bench", mixinStandardHelpOptions = true,
    description = {"Measures meterd on a synthetic usage repository (nodes x files x records, random UUID v4 keys),",
        "one of the README's layouts (--layout), or a repository as it is (--source, such as one that",
        "shared/limits/genrepo.py made): records/s of a full run, ms of a poll with no change and of a poll",
        "where 10 nodes changed, peak heap.",
        "Run it as `java -Xmx256m -jar target/meterd.jar bench` to check the memory bound."},
    subcommands = {BenchCommand.Parse.class, BenchCommand.Keys.class, AuthorizeBench.class})
final class BenchCommand implements Callable<Integer> {

  @ParentCommand
  Main main;

  @Option(names = "--layout", paramLabel = "A|B|C",
      description = {"One of the three layouts the README's figures are measured on, as shared/limits/genrepo.py "
          + "makes them (one commit):",
          "A = 1000 nodes x 10 files x 100 records, 10 users of its own per node;",
          "B = the same, 1000 users shared by every node; C = 10000 nodes x 1 file x 100 records, 1000 shared users.",
          "It fixes the shape: --nodes, --files, --records, --users and --commits are refused with it."})
  BenchRepo.Layout layout;

  @Option(names = "--nodes", defaultValue = "10000", description = "Node folders (default ${DEFAULT-VALUE})")
  int nodes;

  @Option(names = "--files", defaultValue = "2", description = "Hour files per node (default ${DEFAULT-VALUE})")
  int files;

  @Option(names = "--records", defaultValue = "50", description = "Records per file (default ${DEFAULT-VALUE})")
  int records;

  @Option(names = "--commits", defaultValue = "200", description = "Commits of history (default ${DEFAULT-VALUE})")
  int commits;

  @Option(names = "--users", defaultValue = "1000",
      description = "Distinct wallets, shared by every node (default ${DEFAULT-VALUE})")
  int users;

  @Option(names = "--polls", defaultValue = "20", description = "Polls to time of each kind (default ${DEFAULT-VALUE})")
  int polls;

  @Option(names = "--dir", description = "Work folder (default: a new temp folder, removed at the end)")
  Path dir;

  @Spec
  CommandSpec spec;

  /** The options that set the generated repository's shape, which --layout and --source fix. */
  private static final List<String> SHAPE_OPTIONS = List.of("--nodes", "--files", "--records", "--users", "--commits");

  @Override
  public Integer call() throws Exception {
    Optional<BenchRepo.Shape> shape = shape();
    sink = main.out;
    Path work = dir != null ? Files.createDirectories(dir) : Files.createTempDirectory("meterd-bench");
    try {
      return bench(work, shape);
    } finally {
      if (dir == null) {
        deleteTree(work);
      }
    }
  }

  /**
   * The shape to generate, or with --source the one the repository must have (empty: any);
   * refuses shape options that --layout or --source would silently override.
   */
  private Optional<BenchRepo.Shape> shape() {
    List<String> given = SHAPE_OPTIONS.stream().filter(spec.commandLine().getParseResult()::hasMatchedOption).toList();
    if (layout != null && !given.isEmpty()) {
      throw new UsageException("bench --layout " + layout + " fixes the repository's shape; leave out "
          + joined(given) + ", or leave out --layout");
    }
    if (main.source != null && !given.isEmpty()) {
      throw new UsageException("bench --source measures the repository as it is; leave out " + joined(given)
          + ", or leave out --source");
    }
    boolean byOptions = layout == null && main.source == null;
    if (byOptions && (nodes < 10 || files < 1 || records < 1 || commits < 1 || users < 1) || polls < 1) {
      throw new UsageException("bench needs --nodes >= 10 and --files, --records, --commits, --users, --polls >= 1");
    }
    if (layout != null) {
      return Optional.of(layout.shape());
    }
    if (main.source != null) {
      return Optional.empty();
    }
    return Optional.of(new BenchRepo.Shape(nodes, files, records, users, BenchRepo.UserPool.SHARED, commits));
  }

  /** "--a", "--a and --b", "--a, --b and --c". */
  private static String joined(List<String> names) {
    int last = names.size() - 1;
    return last == 0 ? names.get(0) : String.join(", ", names.subList(0, last)) + " and " + names.get(last);
  }

  private int bench(Path work, Optional<BenchRepo.Shape> shape) throws Exception {
    say("%s", title(shape));
    say("machine: %d cores, max heap %d MiB, java %s", Runtime.getRuntime().availableProcessors(),
        Runtime.getRuntime().maxMemory() >> 20, System.getProperty("java.version"));
    if (main.source != null) {
      measure(work, main.source, shape, Optional.empty());
      return ExitCodes.OK;
    }
    BenchRepo.Shape s = shape.orElseThrow();
    say("generating %d records in %d %s ...", s.totalRecords(), s.commits(), s.commits() == 1 ? "commit" : "commits");
    long genStart = System.nanoTime();
    Path repoDir = work.resolve("usage.git");
    try (RepoCommitter repo = RepoCommitter.initBare(repoDir, "main")) {
      BenchRepo generator = new BenchRepo(s, new Random(42));
      generator.generate(repo);
      // A served repository is packed (a push arrives as a pack); loose objects would make every
      // read a file open and an inflate, which no real deployment pays.
      org.eclipse.jgit.api.Git.wrap(repo.repository()).gc().call();
      say("generated and packed in %.1f s", seconds(genStart));
      measure(work, repoDir.toString(), shape, Optional.of(round -> generator.changeTenNodes(repo, round, polls)));
    }
    return ExitCodes.OK;
  }

  /** The first line: what is measured, e.g. "layout B: 1000 nodes x 10 files x 100 records, ...". */
  private String title(Optional<BenchRepo.Shape> shape) {
    if (main.source == null) {
      return (layout != null ? "layout " + layout : "options") + ": " + shape.orElseThrow().describe();
    }
    return "repository " + main.source + " as it is, branch main"
        + (layout != null ? ", checked to be layout " + layout + ": " + layout.shape().describe() : "");
  }

  /** Changes 10 nodes of the generated repository, for the timed polls that find 10 nodes changed. */
  private interface TenNodeChange {
    void commit(int round) throws IOException;
  }

  private void measure(Path work, String repoPath, Optional<BenchRepo.Shape> shape, Optional<TenNodeChange> change)
      throws Exception {
    Clock clock = Clock.tick(Clock.systemUTC(), java.time.Duration.ofMillis(1));
    try (SqliteLedger ledger = SqliteLedger.open(work.resolve("bench.db"), clock);
        GitBatchSource source = GitBatchSource.open(repoPath, "main", work.resolve("clone"), Optional.empty())) {
      Aggregator aggregator = new Aggregator(source, ledger, new BatchParser(BatchParser.Limits.DEFAULT), clock,
          FaultInjector.NONE);
      int nodesRead = fullRun(aggregator, shape);
      pollsWithNoChange(aggregator, nodesRead);
      if (change.isPresent()) {
        pollsWithTenChanged(aggregator, change.get(), nodesRead, shape.orElseThrow().records());
      } else {
        say("poll where 10 nodes changed: not measured, bench does not write into a --source repository");
      }
      verify(work, clock, ledger, source);
    }
  }

  /** Times the first run, which consumes every record; returns how many nodes it consumed. */
  private int fullRun(Aggregator aggregator, Optional<BenchRepo.Shape> shape) throws Exception {
    System.gc();
    resetPeaks();
    Optional<ThreadCpu> cpuBefore = ThreadCpu.now();
    long start = System.nanoTime();
    RunSummary full = aggregator.run(RunRequest.ALL);
    double fullSeconds = seconds(start);
    Optional<ThreadCpu> cpuAfter = ThreadCpu.now();
    long peakHeap = peakHeapBytes();
    checkFullRun(full, shape);
    say("full run: %d records in %.2f s = %.0f records/s; peak heap %d MiB", full.recordsConsumed(), fullSeconds,
        full.recordsConsumed() / fullSeconds, peakHeap >> 20);
    if (cpuBefore.isPresent() && cpuAfter.isPresent()) {
      ThreadCpu.Split cpu = cpuAfter.get().since(cpuBefore.get());
      say("full run CPU: %.1f s on %d cores in %.2f s: the writer %.1f s, JIT compilers %.1f s, garbage collector "
          + "%.1f s, read-ahead and the rest %.1f s", cpu.process(), Runtime.getRuntime().availableProcessors(),
          fullSeconds, cpu.caller(), cpu.jit(), cpu.gc(), cpu.rest());
    }
    return full.nodesConsumed();
  }

  /**
   * Checks that the full run consumed every record: a generated repository's count is known, so a
   * miss is a defect; a --source repository that is not the layout named, or that halts a node, is
   * the caller's to fix.
   */
  private void checkFullRun(RunSummary full, Optional<BenchRepo.Shape> shape) {
    if (main.source == null) {
      check(full.recordsConsumed() == shape.orElseThrow().totalRecords() && full.halted().isEmpty(),
          "the full run consumed " + full.recordsConsumed() + " of " + shape.orElseThrow().totalRecords()
          + " records, halted " + full.halted().size());
      return;
    }
    if (!full.halted().isEmpty()) {
      NodeOutcome.Halted first = full.halted().get(0);
      throw new UsageException("the full run of " + main.source + " halted " + full.halted().size()
          + " node(s), first " + first.node() + (first.error().file() == null ? "" : " in " + first.error().file())
          + ": " + first.error().message()
          + "; bench measures only a repository whose every record is consumed");
    }
    if (shape.isPresent() && (full.nodesConsumed() != shape.get().nodes()
        || full.recordsConsumed() != shape.get().totalRecords())) {
      throw new UsageException("the repository " + main.source + " is not layout " + layout + ": its full run consumed "
          + full.recordsConsumed() + " records of " + full.nodesConsumed() + " nodes, layout " + layout + " has "
          + shape.get().totalRecords() + " records of " + shape.get().nodes()
          + " nodes; make it with shared/limits/genrepo.py as its README says, or leave out --layout");
    }
  }

  private void pollsWithNoChange(Aggregator aggregator, int nodesRead) throws Exception {
    double[] noChange = new double[polls];
    for (int i = 0; i < polls; i++) {
      long t = System.nanoTime();
      RunSummary s = aggregator.run(RunRequest.ALL);
      noChange[i] = millis(t);
      check(s.nodesSkipped() == nodesRead, "a no-change poll skipped " + s.nodesSkipped());
    }
    say("no-change poll of %d nodes: median %.2f ms, max %.2f ms (%d polls)", nodesRead, median(noChange),
        max(noChange), polls);
  }

  private void pollsWithTenChanged(Aggregator aggregator, TenNodeChange change, int nodesRead, int perFile)
      throws Exception {
    double[] tenChanged = new double[Math.min(polls, 10)];
    for (int i = 0; i < tenChanged.length; i++) {
      change.commit(i);
      long t = System.nanoTime();
      RunSummary s = aggregator.run(RunRequest.ALL);
      tenChanged[i] = millis(t);
      check(s.nodesConsumed() == 10 && s.recordsConsumed() == 10L * perFile,
          "a 10-node poll consumed " + s.nodesConsumed() + " nodes, " + s.recordsConsumed() + " records");
    }
    say("poll where 10 of %d nodes changed (%d records each): median %.2f ms, max %.2f ms (%d polls)", nodesRead,
        perFile, median(tenChanged), max(tenChanged), tenChanged.length);
  }

  private void verify(Path work, Clock clock, SqliteLedger ledger, GitBatchSource source) throws Exception {
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
      measure("meterd (strict TOML 1.0, validated records)", () -> ours.parse(PATH, NODE, file).records().size());
      measure("tomlj (tree only, no validation)", () -> org.tomlj.Toml.parse(
          new String(file, StandardCharsets.UTF_8)).getArray("records").size());
      return ExitCodes.OK;
    }

    /** The node and the path of the file that is parsed. */
    static final String NODE = BenchRepo.nodeName(0);
    static final String PATH = BatchText.path(NODE, Instant.parse("2026-11-21T10:00:00Z"));

    /** Generates the file that is parsed: {@code records} records of 1,000 users. */
    byte[] file() {
      BenchRepo.Shape one = new BenchRepo.Shape(1, 1, records, 1000, BenchRepo.UserPool.SHARED, 1);
      return new BenchRepo(one, new Random(7)).batch(0, Instant.parse("2026-11-21T10:00:00Z"))
          .getBytes(StandardCharsets.UTF_8);
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
      description = {"Consumes records into a fresh ledger with random (UUID v4) and with time-ordered (UUID v7, "
          + "as `record` makes them) idempotency keys, node runs of --batch records in groups as a run makes them:",
          "records/s of each million as the consumed-record index grows, and over the last million."})
  static final class Keys implements Callable<Integer> {

    private static final int MILLION = 1_000_000;

    @ParentCommand
    BenchCommand parent;

    @Option(names = "--records", defaultValue = "2000000", description = "Records per kind (default ${DEFAULT-VALUE})")
    int records;

    @Option(names = "--batch", defaultValue = "10000", description = "Records per node run (default ${DEFAULT-VALUE})")
    int batch;

    @Option(names = "--kind", defaultValue = "both", description = "random, ordered or both (default ${DEFAULT-VALUE})")
    String kind;

    @Option(names = "--dir", description = "Where the ledgers are made (default: a temp folder; removed at the end)")
    Path dir;

    @Override
    public Integer call() throws Exception {
      if (records < 1 || batch < 1 || records % batch != 0 || !java.util.Set.of("random", "ordered", "both").contains(kind)) {
        throw new UsageException("bench keys needs --records and --batch >= 1, --records a multiple of --batch, "
            + "and --kind random, ordered or both");
      }
      sink = parent.main.out;
      say("%,d records per kind, %,d per node run, one node, 100 wallets; groups of %,d records as a run commits them",
          records, batch, GroupBounds.DEFAULT.maxRecords());
      Random random = new Random(11);
      var ordered = new dev.meterd.edge.Keys(Clock.systemUTC());
      double randomRate = 0;
      double orderedRate = 0;
      if (!kind.equals("ordered")) {
        randomRate = run("random keys (UUID v4)", () -> new UUID(random.nextLong(), random.nextLong()).toString());
      }
      if (!kind.equals("random")) {
        orderedRate = run("time-ordered keys (UUID v7)", ordered::next);
      }
      if (kind.equals("both")) {
        say("time-ordered keys: %.1fx the records/s of random ones over the last %,d records", orderedRate / randomRate,
            lastStretch());
      }
      return ExitCodes.OK;
    }

    /** The stretch the headline rate is over: the last million, or the second half of fewer than two million. */
    private int lastStretch() {
      return records >= 2 * MILLION ? MILLION : records - records / 2 / batch * batch;
    }

    /** Records/s of each million and over the last stretch, when the index is largest. */
    private double run(String name, java.util.function.Supplier<String> keys) throws Exception {
      Path work = dir != null ? Files.createDirectories(dir) : Files.createTempDirectory("meterd-bench-keys");
      Path db = Files.createTempFile(work, "keys-", ".db");
      Files.delete(db);
      try (SqliteLedger ledger = SqliteLedger.open(db, Clock.systemUTC())) {
        Instant at = Instant.parse("2026-11-21T10:00:00Z");
        int lastFrom = records - lastStretch();
        long lastStart = 0;
        long millionStart = System.nanoTime();
        long start = millionStart;
        NodeStore.NodeGroup group = null;
        for (int done = 0; done < records; done += batch) {
          if (done == lastFrom) {
            lastStart = System.nanoTime();
          }
          java.util.List<dev.meterd.batch.UsageRecord> rs = new java.util.ArrayList<>(batch);
          for (int i = 0; i < batch; i++) {
            rs.add(new dev.meterd.batch.UsageRecord(keys.get(), "u" + (i % 100), 1, at, null, null, i + 1));
          }
          if (group == null) {
            group = ledger.nodeStore().beginGroup(false);
          }
          try (var write = group.beginNode("bench")) {
            write.add("nodes/bench/usage_2026-11-21-10.toml", rs);
            write.commit(new dev.meterd.ledger.NodeCursor("0".repeat(40), "0".repeat(40), null));
          }
          if (group.records() >= GroupBounds.DEFAULT.maxRecords() || done + batch == records) {
            group.commit();
            group = null;
          }
          if ((done + batch) % MILLION == 0) {
            say("%-30s records %,11d to %,11d: %,10.0f records/s", name, done + batch - MILLION, done + batch,
                MILLION / seconds(millionStart));
            millionStart = System.nanoTime();
          }
        }
        double all = records / seconds(start);
        double last = lastStretch() / seconds(lastStart);
        say("%-30s %,10.0f records/s overall, %,10.0f records/s over the last %,d; database %,d MiB", name, all, last,
            lastStretch(), (Files.size(db) + walSize(db)) >> 20);
        return last;
      } finally {
        if (dir == null) {
          deleteTree(work);
        } else {
          for (String suffix : new String[] {"", "-wal", "-shm"}) {
            Files.deleteIfExists(Path.of(db + suffix));
          }
        }
      }
    }

    private static long walSize(Path db) throws IOException {
      Path wal = Path.of(db + "-wal");
      return Files.exists(wal) ? Files.size(wal) : 0;
    }
  }
}
