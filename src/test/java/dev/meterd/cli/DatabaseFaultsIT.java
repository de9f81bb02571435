package dev.meterd.cli;

import static dev.meterd.testing.UsageRepo.HOUR_10;
import static dev.meterd.testing.UsageRepo.batch;
import static dev.meterd.testing.UsageRepo.record;
import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.ledger.NodeError;
import dev.meterd.ledger.NodeState;
import dev.meterd.ledger.SqliteLedger;
import dev.meterd.testing.UsageRepo;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The database's disk fills up, or its file is read-only: the jar says so, naming the database,
 * and leaves nothing partial: no record consumed without its charge, no cursor moved.
 */
class DatabaseFaultsIT {

  @TempDir
  Path tmp;

  private static final String JAVA = Path.of(System.getProperty("java.home"), "bin", "java").toString();
  private static final String JAR = Path.of("target", "meterd.jar").toAbsolutePath().toString();
  private static final boolean ROOT = "root".equals(System.getProperty("user.name"));

  record Result(int exit, String output) {}

  private Result run(List<String> cmd) throws Exception {
    Path log = tmp.resolve("run.log");
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    assertThat(p.waitFor(180, TimeUnit.SECONDS)).isTrue();
    return new Result(p.exitValue(), Files.readString(log));
  }

  private static List<String> aggregate(Path repo, Path db) {
    return List.of(JAVA, "-jar", JAR, "aggregate", "--once", "--db", db.toString(), "--source", repo.toString());
  }

  private static String sh(List<String> words) {
    return String.join(" ", words.stream().map(w -> "'" + w + "'").toList());
  }

  private static void seed(UsageRepo repo, String node, int records, String user) throws IOException {
    StringBuilder b = new StringBuilder();
    for (int r = 0; r < records; r++) {
      b.append(record(node + "-record-" + r, user, 1));
    }
    repo.commit("nodes/" + node + "/" + HOUR_10, batch(b.toString()));
  }

  @Test
  void aFullDiskStopsTheNodeWithTheDatabaseNamedAndNothingPartial() throws Exception {
    try (UsageRepo repo = new UsageRepo(tmp.resolve("usage.git"))) {
      seed(repo, "node-a", 10, "alice");
      seed(repo, "node-b", 30_000, "bob");
      Path small = tmp.resolve("small");
      Path saved = tmp.resolve("saved");
      Files.createDirectories(small);
      Files.createDirectories(saved);
      Path db = small.resolve("meterd.db");
      // A 1 MiB filesystem of its own, in a mount namespace that ends with the command.
      List<String> cmd = new ArrayList<>(List.of("unshare", "--mount", "--propagation", "private"));
      if (!ROOT) {
        cmd.add(1, "--map-root-user");
      }
      cmd.addAll(List.of("sh", "-c", "mount -t tmpfs -o size=1m tmpfs " + sh(List.of(small.toString())) + " && "
          + sh(aggregate(repo.dir(), db)) + "; rc=$?; cp " + sh(List.of(small.toString())) + "/meterd.db* "
          + sh(List.of(saved.toString())) + "/; exit $rc"));
      Result full = run(cmd);

      String error = "cannot commit the run of node node-b in the database " + db
          + ": [SQLITE_FULL] Insertion failed because database is full (database or disk is full)";
      assertThat(full.exit()).as(full.output()).isEqualTo(1);
      assertThat(full.output()).contains("\"nodes_consumed\":1,\"nodes_halted\":1,\"records_consumed\":10,")
          .contains("\"halted\":[{\"node\":\"node-b\",\"file\":null,\"line\":null,\"error\":\"" + error + "\"}]");
      Path copy = saved.resolve("meterd.db");
      try (SqliteLedger ledger = SqliteLedger.open(copy, Clock.systemUTC())) {
        assertThat(ledger.audit().verify()).isEmpty();
        NodeState b = ledger.reads().node("node-b").orElseThrow();
        assertThat(b.error()).isEqualTo(new NodeError(NodeError.Kind.TRANSIENT, null, null, error));
        assertThat(b.lastCommitSha()).as("the cursor did not move").isNull();
        assertThat(b.recordsConsumedTotal()).isZero();
        assertThat(ledger.reads().wallet("bob")).isEmpty();
        assertThat(ledger.reads().wallet("alice").orElseThrow().balanceCents()).isEqualTo(-10);
        assertThat(ledger.reads().node("node-a").orElseThrow().recordsConsumedTotal()).isEqualTo(10);
      }

      // Given room, the next run takes node-b whole.
      Result next = run(aggregate(repo.dir(), copy));
      assertThat(next.exit()).as(next.output()).isZero();
      assertThat(next.output()).contains("\"records_consumed\":30000,");
      try (SqliteLedger ledger = SqliteLedger.open(copy, Clock.systemUTC())) {
        assertThat(ledger.audit().verify()).isEmpty();
        assertThat(ledger.reads().wallet("bob").orElseThrow().balanceCents()).isEqualTo(-30_000);
        assertThat(ledger.reads().node("node-b").orElseThrow().lastCommitSha()).isEqualTo(repo.newestTouching("node-b"));
      }
    }
  }

  @Test
  void aReadOnlyDatabaseFileIsNamedAndNothingIsApplied() throws Exception {
    try (UsageRepo repo = new UsageRepo(tmp.resolve("usage.git"))) {
      seed(repo, "node-a", 3, "alice");
      Path db = tmp.resolve("meterd.db");
      assertThat(run(aggregate(repo.dir(), db)).exit()).isZero();
      String cursor = repo.newestTouching("node-a");
      repo.commit("nodes/node-a/usage_2026-11-21-11.toml", batch(record("late", "alice", 5)));
      Files.setPosixFilePermissions(db, PosixFilePermissions.fromString("r--r--r--"));

      // Root writes any file; without the capabilities that let it, a read-only file is one.
      List<String> cmd = new ArrayList<>();
      if (ROOT) {
        cmd.addAll(List.of("setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"));
      }
      cmd.addAll(aggregate(repo.dir(), db));
      Result readOnly = run(cmd);
      assertThat(readOnly.exit()).as(readOnly.output()).isEqualTo(3);
      assertThat(readOnly.output()).endsWith("meterd: cannot start the run of node node-a in the database " + db
          + ": [SQLITE_READONLY] Attempt to write a readonly database (attempt to write a readonly database)"
          + "; no node was half applied (nodes committed before stay committed), fix the cause and run again\n");

      Files.setPosixFilePermissions(db, PosixFilePermissions.fromString("rw-r--r--"));
      try (SqliteLedger ledger = SqliteLedger.open(db, Clock.systemUTC())) {
        assertThat(ledger.audit().verify()).isEmpty();
        NodeState a = ledger.reads().node("node-a").orElseThrow();
        assertThat(a.lastCommitSha()).as("the cursor did not move").isEqualTo(cursor);
        assertThat(a.recordsConsumedTotal()).isEqualTo(3);
        assertThat(ledger.reads().wallet("alice").orElseThrow().balanceCents()).isEqualTo(-3);
      }
    }
  }

  @Test
  void theDaemonOutlivesAFullDiskAndTakesTheNodeWholeOnceThereIsRoom() throws Exception {
    try (UsageRepo repo = new UsageRepo(tmp.resolve("usage.git"))) {
      seed(repo, "node-a", 10, "alice");
      Path small = tmp.resolve("small");
      Files.createDirectories(small);
      int port;
      try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
        port = s.getLocalPort();
      }
      Path config = tmp.resolve("meterd.toml");
      Files.writeString(config, """
          [source]
          url = "%s"
          [storage]
          path = "%s"
          [aggregator]
          interval_seconds = 3600
          [http]
          listen = "127.0.0.1:%d"
          """.formatted(repo.dir(), small.resolve("meterd.db"), port));
      List<String> cmd = new ArrayList<>(List.of("unshare", "--mount", "--propagation", "private"));
      if (!ROOT) {
        cmd.add(1, "--map-root-user");
      }
      cmd.addAll(List.of("sh", "-c", "mount -t tmpfs -o size=2m tmpfs " + sh(List.of(small.toString()))
          + " && exec " + sh(List.of(JAVA, "-jar", JAR, "serve", "--config", config.toString()))));
      ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
          .redirectOutput(tmp.resolve("serve.log").toFile());
      pb.environment().put("METERD_ADMIN_TOKEN", TOKEN);
      Process serve = pb.start();
      try {
        Admin admin = new Admin(port);
        admin.awaitNodes(1);
        // The daemon's tmpfs, seen from outside its mount namespace.
        Path inside = Path.of("/proc/" + serve.pid() + "/root").resolve(small.toString().substring(1));
        Path filler = inside.resolve("filler");
        fill(filler);
        // Room for a few pages: the node's write fills it, and its halt reuses what the write took.
        try (var channel = java.nio.channels.FileChannel.open(filler, java.nio.file.StandardOpenOption.WRITE)) {
          channel.truncate(channel.size() - 256 * 1024);
        }

        seed(repo, "node-b", 10_000, "bob");
        JsonObject full = admin.post("/admin/aggregate-now");
        assertThat(full.getInteger("nodes_halted")).as(full.encode()).isEqualTo(1);
        assertThat(full.getJsonArray("halted").getJsonObject(0).getString("error")).isEqualTo(
            "cannot commit the run of node node-b in the database " + small.resolve("meterd.db")
                + ": [SQLITE_FULL] Insertion failed because database is full (database or disk is full)");
        assertThat(admin.get("/admin/wallets/bob").statusCode()).isEqualTo(404);

        Files.delete(filler);
        JsonObject next = admin.post("/admin/aggregate-now");
        assertThat(next.getInteger("nodes_halted")).as(next.encode()).isZero();
        assertThat(next.getLong("records_consumed")).isEqualTo(10_000);
        assertThat(new JsonObject(admin.get("/admin/wallets/bob").body()).getLong("balance_cents"))
            .isEqualTo(-10_000);
        assertThat(new JsonObject(admin.get("/admin/wallets/alice").body()).getLong("balance_cents"))
            .isEqualTo(-10);
      } finally {
        serve.destroy();
        assertThat(serve.waitFor(60, TimeUnit.SECONDS)).isTrue();
      }
      assertThat(serve.exitValue()).as(Files.readString(tmp.resolve("serve.log"))).isZero();
    }
  }

  private static final String TOKEN = "disk-full-admin-token-0123";

  /** Writes to a file until its filesystem has no room left. */
  private static void fill(Path filler) throws IOException {
    byte[] chunk = new byte[64 * 1024];
    try (var out = Files.newOutputStream(filler)) {
      for (int i = 0; i < 1_000; i++) {
        out.write(chunk);
        out.flush();
      }
      throw new AssertionError("64 MB fit in a 2 MB filesystem");
    } catch (IOException e) {
      assertThat(e.getMessage()).contains("No space left on device");
    }
  }

  /** The daemon's admin API over plain JDK HTTP. */
  private record Admin(int port, java.net.http.HttpClient client) {
    Admin(int port) {
      this(port, java.net.http.HttpClient.newHttpClient());
    }

    java.net.http.HttpResponse<String> send(String method, String path) throws Exception {
      var request = java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:" + port + path))
          .header("Authorization", "Bearer " + TOKEN)
          .method(method, java.net.http.HttpRequest.BodyPublishers.noBody()).build();
      return client.send(request, java.net.http.HttpResponse.BodyHandlers.ofString());
    }

    java.net.http.HttpResponse<String> get(String path) throws Exception {
      return send("GET", path);
    }

    JsonObject post(String path) throws Exception {
      var response = send("POST", path);
      assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
      return new JsonObject(response.body());
    }

    void awaitNodes(int nodes) throws Exception {
      for (int i = 0; i < 600; i++) {
        try {
          var response = get("/admin/aggregator-state");
          if (response.statusCode() == 200
              && new JsonObject(response.body()).getJsonArray("nodes").size() == nodes
              && send("POST", "/admin/aggregate-now").statusCode() == 200) {
            return;
          }
        } catch (java.net.ConnectException notYet) {
          // The daemon is still starting.
        }
        Thread.sleep(100);
      }
      throw new AssertionError("the daemon's first run did not finish");
    }
  }
}
