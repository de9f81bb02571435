package dev.meterd.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.batch.BatchParser;
import dev.meterd.testing.UsageRepo;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `record` and `push` in-process: their options, JSON and exit codes against a real clone and bare repository. */
class EdgeCommandsIT {

  private static final String HOUR_FILE = "nodes/edge-1/usage_2026-11-21-10.toml";

  @TempDir
  Path tmp;

  private UsageRepo bare;
  private Path clone;
  private String out;
  private String err;

  @BeforeEach
  void setUp() throws Exception {
    bare = new UsageRepo(tmp.resolve("usage.git"));
    bare.commit("README.md", "the usage repository");
    clone = bare.cloneTo(tmp.resolve("clone"));
  }

  @AfterEach
  void tearDown() {
    bare.close();
  }

  private int meterd(String stdin, String... args) {
    return meterd(Map.of(), stdin, args);
  }

  private int meterd(Map<String, String> env, String stdin, String... args) {
    ByteArrayOutputStream o = new ByteArrayOutputStream();
    ByteArrayOutputStream e = new ByteArrayOutputStream();
    int code = Main.execute(args, new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)),
        new PrintStream(o, true, StandardCharsets.UTF_8), new PrintStream(e, true, StandardCharsets.UTF_8), env);
    out = o.toString(StandardCharsets.UTF_8);
    err = e.toString(StandardCharsets.UTF_8);
    return code;
  }

  private int record(String stdin, String... options) {
    String[] args = Stream.concat(Stream.of("record", "--node", "edge-1", "--repo", clone.toString()),
        Stream.of(options)).toArray(String[]::new);
    return meterd(stdin, args);
  }

  private static String line(String key, String user, long cost) {
    return new JsonObject().put("idempotency_key", key).put("user_sid", user).put("cost_cents", cost)
        .put("occurred_at", "2026-11-21T10:00:03Z").encode() + "\n";
  }

  /** The node's files in the clone, each with its record count as the reader with {@code limits} parses it. */
  private Map<String, Integer> files(BatchParser.Limits limits) throws Exception {
    Map<String, Integer> result = new TreeMap<>();
    try (Stream<Path> files = Files.list(clone.resolve("nodes/edge-1"))) {
      for (Path f : files.toList()) {
        result.put(f.getFileName().toString(), new BatchParser(limits).parse(f.toString(), "edge-1",
            Files.readAllBytes(f)).records().size());
      }
    }
    return result;
  }

  @Test
  void recordGoesOnInTheHoursNextFileAtTheLimitsItIsGiven() throws Exception {
    String lines = line("k1", "u1", 1) + line("k2", "u1", 2) + line("k3", "u1", 3) + line("k4", "u1", 4)
        + line("k5", "u1", 5);
    assertThat(record(lines, "--max-records", "2")).as(err).isZero();
    assertThat(new JsonObject(out)).isEqualTo(new JsonObject("""
        {"node":"edge-1","records":5,"keys":["k1","k2","k3","k4","k5"],
         "files":["nodes/edge-1/usage_2026-11-21-10.toml","nodes/edge-1/usage_2026-11-21-10.1.toml",
                  "nodes/edge-1/usage_2026-11-21-10.2.toml"],
         "already_recorded":[]}"""));
    assertThat(files(new BatchParser.Limits(BatchParser.Limits.DEFAULT_MAX_FILE_BYTES, 2))).isEqualTo(Map.of(
        "usage_2026-11-21-10.toml", 2, "usage_2026-11-21-10.1.toml", 2, "usage_2026-11-21-10.2.toml", 1));

    long oneFile = Files.size(clone.resolve(HOUR_FILE));
    assertThat(record(line("k6", "u1", 6) + line("k7", "u1", 7), "--max-file-bytes", String.valueOf(oneFile)))
        .as(err).isZero();
    assertThat(new JsonObject(out).getJsonArray("files").getList())
        .containsExactly("nodes/edge-1/usage_2026-11-21-10.2.toml", "nodes/edge-1/usage_2026-11-21-10.3.toml");
  }

  @Test
  void recordRefusesLimitsOutOfRangeAndARecordNoFileCanHold() throws Exception {
    assertThat(record(line("k1", "u1", 1), "--max-records", "0")).isEqualTo(2);
    assertThat(err).isEqualTo("meterd: --max-records must be at least 1, got 0\n");
    assertThat(record(line("k1", "u1", 1), "--max-file-bytes", "0")).isEqualTo(2);
    assertThat(err).isEqualTo("meterd: --max-file-bytes must be 1 to 2147483631, got 0\n");
    assertThat(record(line("k1", "u1", 1), "--max-file-bytes", "100")).isEqualTo(2);
    assertThat(err).isEqualTo("meterd: the record: it takes 129 bytes in a file of its own, over the file size limit "
        + "of 100 bytes; make it smaller or raise the limit (record --max-file-bytes, as the reader's "
        + "max_file_bytes)\n");
    assertThat(clone.resolve("nodes")).doesNotExist();
  }

  @Test
  void recordRefusesAKeyWrittenWithOtherContentAndReportsOneWrittenWithTheSame() throws Exception {
    assertThat(record(line("k1", "u1", 5) + line("k2", "u1", 6))).as(err).isZero();
    String before = Files.readString(clone.resolve(HOUR_FILE));

    assertThat(record(line("k3", "u1", 1) + line("k1", "u1", 7))).isEqualTo(2);
    assertThat(err).isEqualTo("meterd: record 2: idempotency_key \"k1\" is already in " + HOUR_FILE
        + " with user_sid \"u1\" and cost_cents 5; a key names one record forever: send that record again as it "
        + "was, or use a new key\n");
    assertThat(record("", "--user", "u2", "--cost-cents", "6", "--key", "k2", "--at", "2026-11-21T10:00:03Z"))
        .isEqualTo(2);
    assertThat(err).isEqualTo("meterd: the record: idempotency_key \"k2\" is already in " + HOUR_FILE
        + " with user_sid \"u1\" and cost_cents 6; a key names one record forever: send that record again as it "
        + "was, or use a new key\n");
    assertThat(Files.readString(clone.resolve(HOUR_FILE))).isEqualTo(before);

    assertThat(record(line("k1", "u1", 5) + line("k3", "u1", 1))).as(err).isZero();
    assertThat(new JsonObject(out)).isEqualTo(new JsonObject("""
        {"node":"edge-1","records":1,"keys":["k1","k3"],"files":["nodes/edge-1/usage_2026-11-21-10.toml"],
         "already_recorded":[{"idempotency_key":"k1","file":"nodes/edge-1/usage_2026-11-21-10.toml"}]}"""));
    assertThat(files(BatchParser.Limits.DEFAULT)).isEqualTo(Map.of("usage_2026-11-21-10.toml", 3));
  }

  private int push(Map<String, String> env, String... options) {
    String[] args = Stream.concat(Stream.of("push", "--node", "edge-1", "--repo", clone.toString()),
        Stream.of(options)).toArray(String[]::new);
    return meterd(env, "", args);
  }

  @Test
  void pushThatRunsOutOfTriesExitsWith3KeepsTheCommitAndTheNextPushSendsIt() throws Exception {
    assertThat(record(line("k1", "u1", 5))).as(err).isZero();
    String before = bare.tip();
    Path stale = bare.dir().resolve("refs/heads/main.lock");
    Files.writeString(stale, "");

    assertThat(push(Map.of(), "--attempts", "2", "--backoff-millis", "0")).isEqualTo(3);
    assertThat(err).isEqualTo("meterd: cannot push nodes/edge-1 to origin/main after 2 tries: REJECTED_OTHER_REASON "
        + "(failed to lock); the commits stay in the clone, and the next push sends them\n");
    assertThat(bare.tip()).isEqualTo(before);

    Files.delete(stale);
    assertThat(push(Map.of())).as(err).isZero();
    assertThat(new JsonObject(out)).isEqualTo(new JsonObject().put("node", "edge-1").put("branch", "main")
        .put("committed", 0).put("head", bare.tip()).put("attempts", 1));
    assertThat(bare.committer().read(HOUR_FILE)).isEqualTo(Files.readAllBytes(clone.resolve(HOUR_FILE)));
  }

  @Test
  void pushGivesUpOnARemoteThatNeverAnswersAtItsTimeout() throws Exception {
    assertThat(record(line("k1", "u1", 5))).as(err).isZero();
    try (SilentServer server = new SilentServer()) {
      String url = "http://127.0.0.1:" + server.port() + "/usage.git";
      try (org.eclipse.jgit.api.Git git = org.eclipse.jgit.api.Git.open(clone.toFile())) {
        var config = git.getRepository().getConfig();
        config.setString("remote", "origin", "url", "http://meterd:s3cr3t-t0ken@127.0.0.1:" + server.port()
            + "/usage.git");
        config.save();
      }
      java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newSingleThreadExecutor();
      try {
        var pushed = pool.submit(() -> push(Map.of("METERD_GIT_TOKEN", "s3cr3t-t0ken"), "--timeout-seconds", "2"));
        assertThat(pushed.get(120, java.util.concurrent.TimeUnit.SECONDS)).isEqualTo(3);
      } finally {
        pool.shutdownNow();
      }
      assertThat(err).isEqualTo("meterd: cannot push nodes/edge-1 to " + url + ": it did not answer within 2 s "
          + "(push --timeout-seconds); the commits stay in the clone, and the next push sends them\n");
      assertThat(server.accepted()).isPositive();
    }
  }

  @Test
  void pushCommitsNoFilePastTheLimitsItIsGiven() throws Exception {
    assertThat(record(line("k1", "u1", 5) + line("k2", "u1", 6))).as(err).isZero();
    String before = bare.tip();
    assertThat(push(Map.of(), "--max-records", "1")).isEqualTo(3);
    assertThat(err).isEqualTo("meterd: not pushed: " + HOUR_FILE + " is not a valid batch: line 10: record 2 is "
        + "over the limit of 1 records per file\n");
    assertThat(bare.tip()).isEqualTo(before);
    assertThat(push(Map.of(), "--max-records", "2")).as(err).isZero();
    assertThat(new JsonObject(out).getInteger("committed")).isEqualTo(1);
  }

  /** A TCP server that accepts every connection and never sends a byte: a remote stalled mid-request. */
  private static final class SilentServer implements AutoCloseable {
    private final java.net.ServerSocket socket = new java.net.ServerSocket(0, 50,
        java.net.InetAddress.getLoopbackAddress());
    private final java.util.List<java.net.Socket> held = new java.util.concurrent.CopyOnWriteArrayList<>();
    private final Thread acceptor = new Thread(this::acceptAll, "silent-server");

    SilentServer() throws java.io.IOException {
      acceptor.setDaemon(true);
      acceptor.start();
    }

    int port() {
      return socket.getLocalPort();
    }

    int accepted() {
      return held.size();
    }

    private void acceptAll() {
      try {
        while (true) {
          held.add(socket.accept());
        }
      } catch (java.io.IOException closed) {
        // The test is over.
      }
    }

    @Override
    public void close() throws Exception {
      socket.close();
      for (java.net.Socket s : held) {
        s.close();
      }
      acceptor.join(10_000);
    }
  }
}
