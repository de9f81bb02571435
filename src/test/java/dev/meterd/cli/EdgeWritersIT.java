package dev.meterd.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.batch.BatchContentException;
import dev.meterd.batch.BatchParser;
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
      for (Wallet w : ledger.wallets()) {
        result.put(w.userSid(), w.balanceCents());
      }
      assertThat(ledger.verify()).isEmpty();
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
  void aWriterKilledMidWriteLeavesValidFilesAndTheNextPushSendsEveryRecordItAcknowledged() throws Exception {
    Path clone = cloneOf("edge-1");
    // 100 hour files of 100 records each, one write and one fsync per file.
    StringBuilder lines = new StringBuilder();
    for (int i = 0; i < 10_000; i++) {
      lines.append(new JsonObject().put("user_sid", "u" + (i % 7)).put("cost_cents", 1)
          .put("occurred_at", HOUR.plusSeconds(36L * i).toString()).encode()).append('\n');
    }
    // Where each writer dies (the writer's own fault points, as a power cut: no shutdown, no flush),
    // and how many of its records are then in the files: whole files only.
    Map<String, Integer> kills = new java.util.LinkedHashMap<>();
    kills.put("after-file-write:1", 100);
    kills.put("before-rename:3", 200);
    kills.put("after-file-write:37", 3_700);
    kills.put("before-rename:1", 0);
    kills.put("mid-record-write:2", 100);
    int before = 0;
    for (Map.Entry<String, Integer> kill : kills.entrySet()) {
      Process p = new ProcessBuilder(JAVA, "-Dmeterd.fault=" + kill.getKey(), "-jar", JAR, "record", "--node",
          "edge-1", "--repo", clone.toString()).redirectErrorStream(true)
          .redirectOutput(tmp.resolve("record.log").toFile()).start();
      p.getOutputStream().write(lines.toString().getBytes(StandardCharsets.UTF_8));
      p.getOutputStream().close();
      assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
      assertThat(p.exitValue()).as("killed at " + kill.getKey()).isEqualTo(137);
      int now = validRecords(clone, "edge-1");
      assertThat(now - before).as("records left by a writer killed at " + kill.getKey()).isEqualTo(kill.getValue());
      before = now;
    }

    // The process dies halfway through writing a record's bytes.
    Process torn = new ProcessBuilder(JAVA, "-Dmeterd.fault=mid-record-write", "-jar", JAR, "record", "--node",
        "edge-1", "--repo", clone.toString(), "--user", "u0", "--cost-cents", "1000", "--at", "2026-11-21T10:00:00Z")
        .redirectErrorStream(true).redirectOutput(tmp.resolve("torn.log").toFile()).start();
    assertThat(torn.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(torn.exitValue()).isEqualTo(137);
    assertThat(validRecords(clone, "edge-1")).as("the file without the record, and valid").isEqualTo(before);

    Process push = jar(tmp.resolve("push.log"), "", "push", "--node", "edge-1", "--repo", clone.toString());
    assertThat(push.waitFor(120, TimeUnit.SECONDS)).isTrue();
    assertThat(push.exitValue()).as(Files.readString(tmp.resolve("push.log"))).isZero();
    int written = validRecords(clone, "edge-1");
    assertThat(written).as("the record whose write was cut short is not there").isEqualTo(before);

    Path db = tmp.resolve("meterd.db");
    JsonObject summary = aggregate(db);
    assertThat(summary.getLong("records_consumed")).isEqualTo(written);
    assertThat(summary.getJsonArray("halted")).isEmpty();
    assertThat(balances(db).values().stream().mapToLong(Long::longValue).sum()).isEqualTo(-written);
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
}
