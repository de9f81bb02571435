package dev.meterd.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.batch.BatchContentException;
import dev.meterd.batch.BatchParser;
import dev.meterd.edge.BatchText;
import dev.meterd.edge.Usage;
import dev.meterd.edge.UsageWriter;
import dev.meterd.ledger.SqliteLedger;
import dev.meterd.ledger.Wallet;
import dev.meterd.testing.UsageRepo;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Edge writers as they run for real: threads and processes for different nodes pushing to one bare
 * repository at once, and writer processes killed mid-write; then `aggregate --once` consumes
 * every acknowledged record exactly once.
 */
class EdgeWritersIT {

  private static final String JAVA = Path.of(System.getProperty("java.home"), "bin", "java").toString();
  private static final String JAR = Path.of("target", "meterd.jar").toAbsolutePath().toString();
  private static final Instant HOUR = Instant.parse("2026-11-21T10:00:00Z");

  @TempDir
  Path tmp;

  private UsageRepo bare;

  @BeforeEach
  void setUp() throws Exception {
    bare = new UsageRepo(tmp.resolve("usage.git"));
    bare.commit("README.md", "the usage repository");
  }

  @AfterEach
  void tearDown() {
    bare.close();
  }

  private Path cloneOf(String name) throws Exception {
    return bare.cloneTo(tmp.resolve("clones").resolve(name));
  }

  private Process jar(Path log, String stdin, String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(JAVA, "-jar", JAR));
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    p.getOutputStream().write(stdin.getBytes(StandardCharsets.UTF_8));
    p.getOutputStream().close();
    return p;
  }

  private static String jsonLines(String node, int round, int count) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < count; i++) {
      sb.append(new JsonObject().put("user_sid", "u" + (i % 3)).put("cost_cents", 1 + i % 5)
          .put("idempotency_key", node + "-" + round + "-" + i)
          .put("occurred_at", HOUR.plusSeconds(60L * i).toString()).encode()).append('\n');
    }
    return sb.toString();
  }

  /** Runs `aggregate --once` on the bare repository; returns the database. */
  private JsonObject aggregate(Path db) throws Exception {
    Path log = tmp.resolve("aggregate.log");
    Process p = new ProcessBuilder(JAVA, "-jar", JAR, "aggregate", "--once", "--db", db.toString(), "--source",
        bare.dir().toString()).redirectError(tmp.resolve("aggregate.err").toFile()).redirectOutput(log.toFile())
        .start();
    assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(Files.readString(tmp.resolve("aggregate.err"))).isZero();
    String[] lines = Files.readString(log).strip().split("\n");
    return new JsonObject(lines[lines.length - 1]);
  }

  private static Map<String, Long> balances(Path db) {
    Map<String, Long> result = new TreeMap<>();
    try (SqliteLedger ledger = SqliteLedger.open(db, Clock.systemUTC())) {
      for (Wallet w : ledger.reads().wallets()) {
        result.put(w.userSid(), w.balanceCents());
      }
      assertThat(ledger.audit().verify()).isEmpty();
    }
    return result;
  }

  @Test
  void threadsAndProcessesForManyNodesPushAtOnceAndEveryRecordIsConsumedOnce() throws Exception {
    int threadNodes = 4;
    int rounds = 5;
    int perRound = 20;
    ExecutorService pool = Executors.newFixedThreadPool(threadNodes);
    List<Future<?>> threads = new ArrayList<>();
    Map<String, Long> expected = new TreeMap<>();
    for (int n = 0; n < threadNodes; n++) {
      String node = "thread-" + n;
      UsageWriter writer = UsageWriter.open(cloneOf(node), node, Clock.systemUTC());
      threads.add(pool.submit(() -> {
        for (int r = 0; r < rounds; r++) {
          List<Usage> usages = new ArrayList<>();
          for (int i = 0; i < perRound; i++) {
            usages.add(new Usage("u" + (i % 3), 1 + i % 5, HOUR.plusSeconds(60L * i), null, null, null));
          }
          writer.record(usages);
          writer.push(Optional.empty(), UsageWriter.PushPolicy.DEFAULT);
        }
        return null;
      }));
    }
    // Two more nodes, each a process per round: record from stdin, then push.
    List<Process> processes = new ArrayList<>();
    for (int n = 0; n < 2; n++) {
      String node = "process-" + n;
      Path clone = cloneOf(node);
      StringBuilder script = new StringBuilder("set -e\n");
      for (int r = 0; r < 3; r++) {
        Path lines = tmp.resolve(node + "-" + r + ".jsonl");
        Files.writeString(lines, jsonLines(node, r, perRound));
        script.append(String.join(" ", JAVA, "-jar", JAR, "record", "--node", node, "--repo", clone.toString()))
            .append(" < ").append(lines).append('\n')
            .append(String.join(" ", JAVA, "-jar", JAR, "push", "--node", node, "--repo", clone.toString()))
            .append('\n');
      }
      processes.add(new ProcessBuilder("bash", "-c", script.toString()).redirectErrorStream(true)
          .redirectOutput(tmp.resolve(node + ".log").toFile()).start());
    }
    for (Future<?> f : threads) {
      f.get(300, TimeUnit.SECONDS);
    }
    pool.shutdown();
    for (int n = 0; n < processes.size(); n++) {
      assertThat(processes.get(n).waitFor(300, TimeUnit.SECONDS)).isTrue();
      assertThat(processes.get(n).exitValue()).as(Files.readString(tmp.resolve("process-" + n + ".log"))).isZero();
    }
    int nodes = threadNodes + 2;
    int records = threadNodes * rounds * perRound + 2 * 3 * perRound;
    for (int i = 0; i < perRound; i++) {
      expected.merge("u" + (i % 3), -(long) (1 + i % 5) * (threadNodes * rounds + 2 * 3), Long::sum);
    }

    Path db = tmp.resolve("meterd.db");
    JsonObject summary = aggregate(db);
    assertThat(summary.getInteger("nodes_consumed")).isEqualTo(nodes);
    assertThat(summary.getLong("records_consumed")).isEqualTo(records);
    assertThat(summary.getLong("records_duplicate")).isZero();
    assertThat(balances(db)).isEqualTo(expected);
    assertThat(aggregate(db).getLong("records_consumed")).as("a second run").isZero();
  }

  /** Every usage file under the clone's node folder, parsed by the reader; their record count. */
  private static int validRecords(Path clone, String node) throws Exception {
    Path folder = clone.resolve("nodes").resolve(node);
    if (!Files.isDirectory(folder)) {
      return 0;
    }
    int records = 0;
    try (Stream<Path> files = Files.list(folder)) {
      for (Path f : files.toList()) {
        try {
          records += new BatchParser(BatchParser.Limits.DEFAULT).parse(f.toString(), node, Files.readAllBytes(f))
              .records().size();
        } catch (BatchContentException e) {
          throw new AssertionError(f + " is not valid after the kill: " + e.getMessage());
        }
      }
    }
    return records;
  }

  @Test
  void aWriterKilledAnywhereLeavesValidFilesAndTheNextWriterUndoesItsCallSoOnlyAcknowledgedRecordsArePushed()
      throws Exception {
    Path clone = cloneOf("edge-1");
    // An acknowledged call: 100 records in the hour file that every killed call below appends to first.
    Run acknowledged = record(clone, null, keyedLines("ack", 100), List.of());
    assertThat(acknowledged.exit()).as(acknowledged.err()).isZero();
    // Calls of 100 hour files of 100 new records each, the first of them the acknowledged one's.
    StringBuilder lines = new StringBuilder();
    for (int i = 0; i < 10_000; i++) {
      lines.append(new JsonObject().put("user_sid", "u" + (i % 7)).put("cost_cents", 1)
          .put("occurred_at", HOUR.plusSeconds(36L * i).toString()).encode()).append('\n');
    }
    // Where each writer dies (the writer's own fault points, as a power cut: no shutdown, no flush),
    // and how many records are in the files right then: whole files only, the acknowledged ones and
    // those of the files the killed call had renamed. Each writer first undoes the call the one
    // before it left, so those never add up.
    Map<String, Integer> kills = new java.util.LinkedHashMap<>();
    kills.put("after-file-write:1", 200);
    kills.put("before-rename:3", 300);
    kills.put("after-file-write:37", 3_800);
    kills.put("before-rename:1", 100);
    kills.put("mid-record-write:2", 100);
    for (Map.Entry<String, Integer> kill : kills.entrySet()) {
      Run killed = record(clone, kill.getKey(), lines.toString(), List.of());
      assertThat(killed.exit()).as("killed at " + kill.getKey()).isEqualTo(137);
      assertThat(killed.out()).isEmpty();
      assertThat(validRecords(clone, "edge-1")).as("records in the files when killed at " + kill.getKey())
          .isEqualTo(kill.getValue());
    }

    // The process dies halfway through writing a record's bytes.
    Run torn = record(clone, "mid-record-write", "", List.of("--user", "u0", "--cost-cents", "1000", "--at",
        "2026-11-21T10:00:00Z"));
    assertThat(torn.exit()).isEqualTo(137);
    assertThat(validRecords(clone, "edge-1")).as("the file without the record, and valid").isEqualTo(100);

    push(clone);
    assertThat(validRecords(clone, "edge-1")).as("only the acknowledged records").isEqualTo(100);
    assertThat(leftInStaging(clone)).isEmpty();
    Path db = tmp.resolve("meterd.db");
    JsonObject summary = aggregate(db);
    assertThat(summary.getLong("records_consumed")).isEqualTo(100);
    assertThat(summary.getJsonArray("halted")).isEmpty();
    assertThat(balances(db).values().stream().mapToLong(Long::longValue).sum()).isEqualTo(-300);
  }

  @Test
  void recordReportsABadLineOfStdinAndWritesNothing() throws Exception {
    Path clone = cloneOf("edge-1");
    String input = "{\"user_sid\":\"u1\",\"cost_cents\":5}\n{\"user_sid\":\"u1\",\"cost_cents\":1.5}\n";
    Process p = jar(tmp.resolve("bad.log"), input, "record", "--node", "edge-1", "--repo", clone.toString());
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).isEqualTo(2);
    assertThat(Files.readString(tmp.resolve("bad.log")))
        .isEqualTo("meterd: stdin line 2: cost_cents must be an integer, got 1.5\n");
    assertThat(clone.resolve("nodes")).doesNotExist();
  }

  private static String keyedLines(String writer, int count) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < count; i++) {
      sb.append(new JsonObject().put("user_sid", "u" + (i % 3)).put("cost_cents", 1 + i % 5)
          .put("idempotency_key", writer + "-" + i).put("occurred_at", HOUR.plusSeconds(i).toString()).encode())
          .append('\n');
    }
    return sb.toString();
  }

  /** Waits, up to a minute, until every log says its process waits for the writer lock. */
  private static void awaitWaiting(List<Path> logs) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    for (Path log : logs) {
      while (!Files.exists(log) || !Files.readString(log).contains("is held by another writer of this clone")) {
        assertThat(System.nanoTime()).as("%s waits for the writer lock", log).isLessThan(deadline);
        Thread.sleep(20);
      }
    }
  }

  @Test
  void twoWritersAndAPushOnOneCloneTakeTurnsAndEveryRecordLandsOnce() throws Exception {
    Path clone = cloneOf("edge-1");
    int perWriter = 500;
    List<Path> logs = List.of(tmp.resolve("writer-0.log"), tmp.resolve("writer-1.log"), tmp.resolve("push.log"));
    List<Process> processes = new ArrayList<>();
    // The test holds the writer lock until all three wait for it: then they run into each other for sure.
    Path lockFile = clone.resolve(".git").resolve("meterd-writer.lock");
    try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(lockFile,
        java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.WRITE);
        java.nio.channels.FileLock held = ch.lock()) {
      for (int w = 0; w < 2; w++) {
        processes.add(jar(logs.get(w), keyedLines("w" + w, perWriter), "record", "--node", "edge-1", "--repo",
            clone.toString(), "--max-records", "120"));
      }
      processes.add(jar(logs.get(2), "", "push", "--node", "edge-1", "--repo", clone.toString(),
          "--max-records", "120"));
      awaitWaiting(logs);
    }
    for (int i = 0; i < processes.size(); i++) {
      assertThat(processes.get(i).waitFor(120, TimeUnit.SECONDS)).isTrue();
      assertThat(processes.get(i).exitValue()).as(Files.readString(logs.get(i))).isZero();
    }

    // The hour's files in order: each writer's records in one run (one took the lock after the other),
    // 120 to a file, every key once.
    List<String> keys = new ArrayList<>();
    List<Integer> sizes = new ArrayList<>();
    BatchParser parser = new BatchParser(new BatchParser.Limits(BatchParser.Limits.DEFAULT_MAX_FILE_BYTES, 120));
    for (int part = 0; part < 9; part++) {
      Path f = clone.resolve("nodes/edge-1/usage_2026-11-21-10" + (part == 0 ? "" : "." + part) + ".toml");
      List<String> inFile = parser.parse(f.toString(), "edge-1", Files.readAllBytes(f)).records().stream()
          .map(r -> r.idempotencyKey()).toList();
      sizes.add(inFile.size());
      keys.addAll(inFile);
    }
    assertThat(sizes).containsExactly(120, 120, 120, 120, 120, 120, 120, 120, 40);
    String first = keys.get(0).substring(0, 2);
    String second = first.equals("w0") ? "w1" : "w0";
    List<String> expected = new ArrayList<>();
    for (String w : List.of(first, second)) {
      for (int i = 0; i < perWriter; i++) {
        expected.add(w + "-" + i);
      }
    }
    assertThat(keys).isEqualTo(expected);
    try (Stream<Path> files = Files.list(clone.resolve("nodes/edge-1"))) {
      assertThat(files.count()).isEqualTo(9);
    }

    Process push = jar(tmp.resolve("last-push.log"), "", "push", "--node", "edge-1", "--repo", clone.toString(),
        "--max-records", "120");
    assertThat(push.waitFor(120, TimeUnit.SECONDS)).isTrue();
    assertThat(push.exitValue()).as(Files.readString(tmp.resolve("last-push.log"))).isZero();
    Path db = tmp.resolve("meterd.db");
    JsonObject summary = aggregate(db);
    assertThat(summary.getLong("records_consumed")).isEqualTo(2L * perWriter);
    assertThat(summary.getJsonArray("halted")).isEmpty();
    assertThat(balances(db).values().stream().mapToLong(Long::longValue).sum()).isEqualTo(-2L * 3 * perWriter);
  }

  /** A process's exit code, and what it printed on stdout and stderr. */
  private record Run(int exit, String out, String err) {}

  /** Runs the jar to its end, with {@code -Dmeterd.fault=FAULT} unless {@code fault} is null. */
  private Run run(String fault, String stdin, String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(JAVA));
    if (fault != null) {
      cmd.add("-Dmeterd.fault=" + fault);
    }
    cmd.addAll(List.of("-jar", JAR));
    cmd.addAll(List.of(args));
    Path out = Files.createTempFile(tmp, "run", ".out");
    Path err = Files.createTempFile(tmp, "run", ".err");
    Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
    p.getOutputStream().write(stdin.getBytes(StandardCharsets.UTF_8));
    p.getOutputStream().close();
    assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
    return new Run(p.exitValue(), Files.readString(out), Files.readString(err));
  }

  private Run record(Path clone, String fault, String stdin, List<String> options) throws Exception {
    List<String> args = new ArrayList<>(List.of("record", "--node", "edge-1", "--repo", clone.toString()));
    args.addAll(options);
    return run(fault, stdin, args.toArray(String[]::new));
  }

  private Run push(Path clone) throws Exception {
    Run push = run(null, "", "push", "--node", "edge-1", "--repo", clone.toString());
    assertThat(push.exit()).as(push.err()).isZero();
    return push;
  }

  /** The node's files in the work tree, by name, with their text. */
  private static Map<String, String> nodeFiles(Path clone) throws Exception {
    Map<String, String> files = new TreeMap<>();
    try (Stream<Path> list = Files.list(clone.resolve("nodes/edge-1"))) {
      for (Path f : list.toList()) {
        files.put(f.getFileName().toString(), Files.readString(f));
      }
    }
    return files;
  }

  /** Every regular file the writer keeps in the clone's .git for writes under way. */
  private static List<Path> leftInStaging(Path clone) throws Exception {
    Path staging = clone.resolve(".git").resolve("meterd-staging");
    if (!Files.exists(staging)) {
      return List.of();
    }
    try (Stream<Path> all = Files.walk(staging)) {
      return all.filter(Files::isRegularFile).toList();
    }
  }

  /**
   * A call of three records without keys that touches two files, the second after the first: one
   * that goes on in the hour's next file at --max-records 2, or one whose records span two hours.
   *
   * @param fileOf which file each record goes to, in order
   */
  private enum TwoFileCall {
    ROLLS_OVER_WITHIN_AN_HOUR(List.of("--max-records", "2"), "2026-11-21T10:00:02Z",
        List.of("usage_2026-11-21-10.toml", "usage_2026-11-21-10.1.toml", "usage_2026-11-21-10.1.toml")),
    SPANS_TWO_HOURS(List.of(), "2026-11-21T11:00:02Z",
        List.of("usage_2026-11-21-10.toml", "usage_2026-11-21-11.toml", "usage_2026-11-21-10.toml"));

    final List<String> options;
    final List<String> fileOf;
    final String secondAt;

    TwoFileCall(List<String> options, String secondAt, List<String> fileOf) {
      this.options = options;
      this.secondAt = secondAt;
      this.fileOf = fileOf;
    }

    List<Usage> usages() {
      return List.of(new Usage("u1", 1, Instant.parse("2026-11-21T10:00:01Z"), null, null, null),
          new Usage("u2", 2, Instant.parse(secondAt), null, null, null),
          new Usage("u1", 3, Instant.parse("2026-11-21T10:00:03Z"), null, null, null));
    }

    String stdin() {
      StringBuilder sb = new StringBuilder();
      for (Usage u : usages()) {
        sb.append(new JsonObject().put("user_sid", u.userSid()).put("cost_cents", u.costCents())
            .put("occurred_at", u.occurredAt().toString()).encode()).append('\n');
      }
      return sb.toString();
    }

    /** The node's files once the call is written with {@code keys} onto {@code before}: exact text. */
    Map<String, String> after(Map<String, String> before, List<String> keys) {
      Map<String, String> files = new TreeMap<>(before);
      for (int i = 0; i < keys.size(); i++) {
        Usage u = usages().get(i);
        String text = files.getOrDefault(fileOf.get(i), BatchText.header("edge-1"));
        files.put(fileOf.get(i), BatchText.record(new StringBuilder(text), keys.get(i), u.userSid(), u.costCents(),
            u.occurredAt(), null, null).toString());
      }
      return files;
    }
  }

  private static Stream<Arguments> twoFileCallsAndFaultsAtTheSecondFile() {
    List<Arguments> cases = new ArrayList<>();
    for (TwoFileCall call : TwoFileCall.values()) {
      for (String fault : List.of("write-fails:2", "rename-fails:2", "before-rename:2")) {
        cases.add(Arguments.of(call, fault));
      }
    }
    return cases.stream();
  }

  /**
   * A call fails at its second file: the disk is full while it is staged, its rename fails after
   * the first file's, or the process is killed between the two renames. No record of the call is
   * in any file then (for the kill, once the next push has put back what it left), and the same
   * call run again, with new keys as a caller without keys gets, is charged exactly once.
   */
  @ParameterizedTest(name = "{0}, {1}")
  @MethodSource("twoFileCallsAndFaultsAtTheSecondFile")
  void aCallThatFailsAtItsSecondFileWritesNoRecordAndItsRetryIsChargedOnce(TwoFileCall call, String fault)
      throws Exception {
    Path clone = cloneOf("edge-1");
    Run first = record(clone, null, "", List.of("--user", "u1", "--cost-cents", "7", "--key", "k0", "--at",
        "2026-11-21T10:00:00Z"));
    assertThat(first.exit()).as(first.err()).isZero();
    Map<String, String> before = nodeFiles(clone);

    Run failed = record(clone, fault, call.stdin(), call.options);
    assertThat(failed.out()).as("no keys are printed").isEmpty();
    if (fault.startsWith("before-rename")) {
      assertThat(failed.exit()).isEqualTo(137);
      assertThat(failed.err()).isEmpty();
    } else {
      String cause = fault.startsWith("write-fails") ? "No space left on device" : "Input/output error";
      assertThat(failed.exit()).isEqualTo(3);
      assertThat(nodeFiles(clone)).as("the files right after the failure").isEqualTo(before);
      assertThat(leftInStaging(clone)).as("staged files are removed").isEmpty();
      assertThat(failed.err()).isEqualTo("meterd: cannot write the files of nodes/edge-1 in " + clone + ": "
          + cause + " (injected at " + fault + "); no record of this call was written: run it again\n");
    }

    Run push = push(clone);
    if (fault.startsWith("before-rename")) {
      assertThat(push.err()).as("the push tells of the call it undid").contains("WARN  AppendTransaction - "
          + "nodes/edge-1: put back 1 of the 2 files of a record call that was interrupted before it finished; it never "
          + "printed its keys, so none of its records is written and its caller sends them again");
    }
    assertThat(nodeFiles(clone)).as("the files once pushed").isEqualTo(before);
    assertThat(leftInStaging(clone)).isEmpty();
    for (String name : call.fileOf) {
      byte[] pushed = bare.committer().read("nodes/edge-1/" + name);
      assertThat(pushed == null ? null : new String(pushed, StandardCharsets.UTF_8)).as("pushed " + name)
          .isEqualTo(before.get(name));
    }

    Run retry = record(clone, null, call.stdin(), call.options);
    assertThat(retry.exit()).as(retry.err()).isZero();
    List<String> keys = new JsonObject(retry.out()).getJsonArray("keys").getList();
    assertThat(keys).hasSize(3).doesNotContain("k0");
    assertThat(nodeFiles(clone)).isEqualTo(call.after(before, keys));
    push(clone);

    Path db = tmp.resolve("meterd.db");
    JsonObject summary = aggregate(db);
    assertThat(summary.getLong("records_consumed")).isEqualTo(4);
    assertThat(summary.getLong("records_duplicate")).isZero();
    assertThat(summary.getJsonArray("halted")).isEmpty();
    assertThat(balances(db)).isEqualTo(Map.of("u1", -11L, "u2", -2L));
  }

  /**
   * The one moment no scheme can close: the call is written whole, and the process dies before
   * the caller hears of it. A caller that retries with the keys it chose is charged once.
   */
  @Test
  void aCallKilledAfterItsWriteButBeforeItsAnswerIsChargedOnceWhenRetriedWithItsKeys() throws Exception {
    Path clone = cloneOf("edge-1");
    String lines = keyedLines("w", 3);
    Run killed = record(clone, "after-commit:2", lines, List.of("--max-records", "2"));
    assertThat(killed.exit()).isEqualTo(137);
    assertThat(killed.out()).isEmpty();
    assertThat(nodeFiles(clone).keySet()).containsExactly("usage_2026-11-21-10.1.toml", "usage_2026-11-21-10.toml");

    Run retry = record(clone, null, lines, List.of("--max-records", "2"));
    assertThat(retry.exit()).as(retry.err()).isZero();
    assertThat(new JsonObject(retry.out()).getInteger("records")).isZero();
    assertThat(new JsonObject(retry.out()).getJsonArray("already_recorded")).hasSize(3);
    push(clone);
    JsonObject summary = aggregate(tmp.resolve("meterd.db"));
    assertThat(summary.getLong("records_consumed")).isEqualTo(3);
    assertThat(summary.getLong("records_duplicate")).isZero();
  }

  /** The undo cuts a file back only when its length says the killed call wrote it; else it stops and says so. */
  @Test
  void aFileChangedSinceAKilledCallIsNotCutBackAndTheNextRecordSaysWhatToDo() throws Exception {
    Path clone = cloneOf("edge-1");
    TwoFileCall call = TwoFileCall.ROLLS_OVER_WITHIN_AN_HOUR;
    Run killed = record(clone, "before-rename:2", call.stdin(), call.options);
    assertThat(killed.exit()).isEqualTo(137);
    Path first = clone.resolve("nodes/edge-1/usage_2026-11-21-10.toml");
    long written = Files.size(first);
    Files.writeString(first, "# edited\n", java.nio.file.StandardOpenOption.APPEND);
    Map<String, String> edited = nodeFiles(clone);

    Run next = record(clone, null, call.stdin(), call.options);
    assertThat(next.exit()).isEqualTo(3);
    assertThat(next.out()).isEmpty();
    assertThat(next.err()).isEqualTo("meterd: cannot put back the files of an interrupted record call of nodes/edge-1 "
        + "that " + clone.resolve(".git/meterd-staging/.journals/edge-1")
        + " lists: nodes/edge-1/usage_2026-11-21-10.toml "
        + "is " + (written + 9) + " bytes, neither absent as before the call nor " + written + " bytes as the call "
        + "left it, so something else changed it; check those files by hand, then remove the journal\n");
    assertThat(nodeFiles(clone)).isEqualTo(edited);
  }
}
