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
import java.util.Random;
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

  private static long folderBytes(Path clone) throws Exception {
    Path folder = clone.resolve("nodes").resolve("edge-1");
    if (!Files.isDirectory(folder)) {
      return 0;
    }
    try (Stream<Path> files = Files.list(folder)) {
      long total = 0;
      for (Path f : files.toList()) {
        total += Files.size(f);
      }
      return total;
    }
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
    Random random = new Random(20261122);
    // 200 hour files of 100 records each, one write and one fsync per file.
    StringBuilder lines = new StringBuilder();
    for (int i = 0; i < 20_000; i++) {
      lines.append(new JsonObject().put("user_sid", "u" + (i % 7)).put("cost_cents", 1)
          .put("occurred_at", HOUR.plusSeconds(36L * i).toString()).encode()).append('\n');
    }
    int before = 0;
    int midWrite = 0;
    for (int attempt = 0; attempt < 5; attempt++) {
      long size = folderBytes(clone);
      Process p = jar(tmp.resolve("record.log"), lines.toString(), "record", "--node", "edge-1", "--repo",
          clone.toString());
      // Once its first file has grown, the writer is killed a random moment into its 200 writes.
      while (p.isAlive() && folderBytes(clone) == size) {
        Thread.sleep(2);
      }
      Thread.sleep(random.nextInt(60));
      p.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
      int now = validRecords(clone, "edge-1");
      assertThat(now % 100).as("whole writes only: each file takes its 100 records at once").isZero();
      assertThat(now).isGreaterThanOrEqualTo(before);
      if (now > before && now < before + 20_000) {
        midWrite++;
      }
      before = now;
    }
    assertThat(midWrite).as("writers killed between two of their writes").isPositive();

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
}
