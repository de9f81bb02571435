package dev.meterd.cli;

import static dev.meterd.testing.UsageRepo.HOUR_10;
import static dev.meterd.testing.UsageRepo.batch;
import static dev.meterd.testing.UsageRepo.record;
import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.ledger.LedgerEngine;
import dev.meterd.ledger.NodeError;
import dev.meterd.ledger.NodeState;
import dev.meterd.ledger.SqliteLedger;
import dev.meterd.ledger.TestDatabase;
import dev.meterd.testing.UsageRepo;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The database's disk fills up, or the database is read-only: the jar says so, naming the
 * database, and leaves nothing partial: no record consumed without its charge, no cursor moved.
 *
 * <p>On SQLite the disk is a real one that fills (a small tmpfs) and the file really read-only.
 * On PostgreSQL, whose server a full disk would stop as a whole, a trigger refusing the node's
 * inserts stands for the full disk (as in the ledger's contract tests), and the database is made
 * read-only as PostgreSQL makes one ({@code default_transaction_read_only}).
 */
@ParameterizedClass
@EnumSource(LedgerEngine.class)
class DatabaseFaultsIT {

  @Parameter
  LedgerEngine engine;

  @TempDir
  Path tmp;

  private static final boolean ROOT = "root".equals(System.getProperty("user.name"));

  record Result(int exit, String output) {}

  private Result run(List<String> cmd, TestDatabase db) throws Exception {
    Path log = tmp.resolve("run.log");
    Process p = MeterdJar.process(cmd, db, log).start();
    assertThat(p.waitFor(180, TimeUnit.SECONDS)).isTrue();
    return new Result(p.exitValue(), Files.readString(log));
  }

  /** {@code aggregate --once} on {@code db}, by a configuration of its own. */
  private List<String> aggregate(Path repo, TestDatabase db, String name) throws IOException {
    Path config = MeterdJar.config(tmp.resolve(name + ".toml"), db, "");
    return MeterdJar.command(List.of(), List.of("aggregate", "--once", "--config", config.toString(), "--source",
        repo.toString()));
  }

  private static String sh(List<String> words) {
    return String.join(" ", words.stream().map(w -> "'" + w + "'").toList());
  }

  /** The command run in a mount namespace of its own with a tmpfs of {@code size} over {@code folder}. */
  private static List<String> onTmpfs(Path folder, String size, String command) {
    List<String> cmd = new ArrayList<>(List.of("unshare", "--mount", "--propagation", "private"));
    if (!ROOT) {
      cmd.add(1, "--map-root-user");
    }
    cmd.addAll(List.of("sh", "-c", "mount -t tmpfs -o size=" + size + " tmpfs " + sh(List.of(folder.toString()))
        + " && " + command));
    return cmd;
  }

  private static void seed(UsageRepo repo, String node, int records, String user) throws IOException {
    StringBuilder b = new StringBuilder();
    for (int r = 0; r < records; r++) {
      b.append(record(node + "-record-" + r, user, 1));
    }
    repo.commit("nodes/" + node + "/" + HOUR_10, batch(b.toString()));
  }

  /**
   * The trigger that stands for a full disk on PostgreSQL: node-b's records are refused. The
   * tables are made first, as a run makes them, if no run has.
   */
  private static void fillDisk(TestDatabase db) throws SQLException {
    db.open(Clock.systemUTC()).close();
    try (Connection c = db.jdbc(); Statement st = c.createStatement()) {
      db.refuseInserts(st, "disk_full", "consumed_newest", "NEW.idempotency_key LIKE 'node-b-%'");
    }
  }

  private static void makeRoom(TestDatabase db) throws SQLException {
    try (Connection c = db.jdbc(); Statement st = c.createStatement()) {
      db.allowInserts(st, "disk_full", "consumed_newest");
    }
  }

  /**
   * What the run of node-b fails with when the disk is full: one line on either engine (the line
   * PostgreSQL's driver adds for where the server raised it is dropped).
   */
  private String fullDiskError(TestDatabase db) {
    return engine == LedgerEngine.SQLITE
        ? "cannot commit the run of node node-b in the database " + db.where()
            + ": [SQLITE_FULL] Insertion failed because database is full (database or disk is full)"
        : "cannot commit the run of node node-b in the database " + db.where()
            + ": ERROR: disk says no";
  }

  @Test
  void aFullDiskStopsTheNodeWithTheDatabaseNamedAndNothingPartial() throws Exception {
    try (UsageRepo repo = new UsageRepo(tmp.resolve("usage.git"))) {
      seed(repo, "node-a", 10, "alice");
      seed(repo, "node-b", 30_000, "bob");
      TestDatabase db;
      TestDatabase after;
      Result full;
      if (engine == LedgerEngine.SQLITE) {
        Path small = Files.createDirectories(tmp.resolve("small"));
        Path saved = Files.createDirectories(tmp.resolve("saved"));
        db = engine.freshDatabase(small);
        // What the run left, copied out of its filesystem before the namespace ends with it.
        after = engine.freshDatabase(saved);
        // A 1 MiB filesystem of its own, in a mount namespace that ends with the command.
        full = run(onTmpfs(small, "1m", sh(aggregate(repo.dir(), db, "small")) + "; rc=$?; cp "
            + sh(List.of(small.toString())) + "/meterd.db* " + sh(List.of(saved.toString())) + "/; exit $rc"), db);
      } else {
        db = engine.freshDatabase(tmp);
        after = db;
        fillDisk(db);
        full = run(aggregate(repo.dir(), db, "full"), db);
      }

      String error = fullDiskError(db);
      assertThat(full.exit()).as(full.output()).isEqualTo(1);
      assertThat(full.output()).contains("\"nodes_consumed\":1,\"nodes_halted\":1,\"records_consumed\":10,")
          .contains("\"halted\":[" + new JsonObject().put("node", "node-b").putNull("file").putNull("line")
              .put("error", error).encode() + "]");
      try (SqliteLedger ledger = after.open(Clock.systemUTC())) {
        assertThat(ledger.audit().verify()).isEmpty();
        NodeState b = ledger.reads().node("node-b").orElseThrow();
        assertThat(b.error()).isEqualTo(new NodeError(NodeError.Kind.TRANSIENT, null, null, error));
        assertThat(b.lastCommitSha()).as("the cursor did not move").isNull();
        assertThat(b.recordsConsumedTotal()).isZero();
        assertThat(ledger.reads().wallet("bob")).isEmpty();
        assertThat(ledger.reads().wallet("alice").orElseThrow().balanceCents()).isEqualTo(-10);
        assertThat(ledger.reads().node("node-a").orElseThrow().recordsConsumedTotal()).isEqualTo(10);
      }

      // Given room (on SQLite, the copy outside the small filesystem), the next run takes node-b whole.
      if (engine == LedgerEngine.POSTGRES) {
        makeRoom(db);
      }
      Result next = run(aggregate(repo.dir(), after, "after"), after);
      assertThat(next.exit()).as(next.output()).isZero();
      assertThat(next.output()).contains("\"records_consumed\":30000,");
      try (SqliteLedger ledger = after.open(Clock.systemUTC())) {
        assertThat(ledger.audit().verify()).isEmpty();
        assertThat(ledger.reads().wallet("bob").orElseThrow().balanceCents()).isEqualTo(-30_000);
        assertThat(ledger.reads().node("node-b").orElseThrow().lastCommitSha()).isEqualTo(repo.newestTouching("node-b"));
      }
    }
  }

  /** Makes the database read-only, as its engine does; {@link #makeWritable} undoes it. */
  private void makeReadOnly(TestDatabase db) throws Exception {
    if (engine == LedgerEngine.SQLITE) {
      Files.setPosixFilePermissions(Path.of(db.where()), PosixFilePermissions.fromString("r--r--r--"));
    } else {
      db.exec("ALTER DATABASE \"" + db.column("SELECT current_database()").get(0)
          + "\" SET default_transaction_read_only = on");
    }
  }

  private void makeWritable(TestDatabase db) throws Exception {
    if (engine == LedgerEngine.SQLITE) {
      Files.setPosixFilePermissions(Path.of(db.where()), PosixFilePermissions.fromString("rw-r--r--"));
    } else {
      // A new session starts read-only now: this one leaves that before it lifts it.
      String name = db.column("SELECT current_database()").get(0);
      try (Connection c = db.jdbc(); Statement st = c.createStatement()) {
        st.execute("SET default_transaction_read_only = off");
        st.execute("ALTER DATABASE \"" + name + "\" RESET default_transaction_read_only");
      }
    }
  }

  /** Root writes any file; without the capabilities that let it, a read-only file is one. */
  private List<String> asReader(List<String> command) {
    List<String> cmd = new ArrayList<>();
    if (ROOT && engine == LedgerEngine.SQLITE) {
      cmd.addAll(List.of("setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"));
    }
    cmd.addAll(command);
    return cmd;
  }

  /** What a run on the read-only database ends with. */
  private String readOnlyError(TestDatabase db) {
    return engine == LedgerEngine.SQLITE
        ? "meterd: cannot start the run of node node-a in the database " + db.where()
            + ": [SQLITE_READONLY] Attempt to write a readonly database (attempt to write a readonly database)"
            + "; no node was half applied (nodes committed before stay committed), fix the cause and run again\n"
        : "meterd: cannot claim the leases of 1 nodes in the database " + db.where()
            + ": ERROR: cannot execute INSERT in a read-only transaction"
            + "; no node was half applied (nodes committed before stay committed), fix the cause and run again\n";
  }

  @Test
  void aReadOnlyDatabaseIsNamedAndNothingIsApplied() throws Exception {
    try (UsageRepo repo = new UsageRepo(tmp.resolve("usage.git"))) {
      seed(repo, "node-a", 3, "alice");
      TestDatabase db = engine.freshDatabase(tmp);
      List<String> aggregate = aggregate(repo.dir(), db, "meterd");
      assertThat(run(aggregate, db).exit()).isZero();
      String cursor = repo.newestTouching("node-a");
      repo.commit("nodes/node-a/usage_2026-11-21-11.toml", batch(record("late", "alice", 5)));
      makeReadOnly(db);

      Result readOnly = run(asReader(aggregate), db);
      assertThat(readOnly.exit()).as(readOnly.output()).isEqualTo(3);
      assertThat(readOnly.output()).endsWith(readOnlyError(db));
      // What only reads, reads it all the same.
      Result verify = run(asReader(MeterdJar.command(List.of(), List.of("verify", "--config",
          tmp.resolve("meterd.toml").toString()))), db);
      assertThat(verify.exit()).as(verify.output()).isZero();
      assertThat(verify.output()).endsWith("{\"ok\":true,\"violations\":[]}\n");

      makeWritable(db);
      try (SqliteLedger ledger = db.open(Clock.systemUTC())) {
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
      Path small = Files.createDirectories(tmp.resolve("small"));
      TestDatabase db = engine.freshDatabase(small);
      int port;
      try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
        port = s.getLocalPort();
      }
      Path config = MeterdJar.config(tmp.resolve("meterd.toml"), db, """
          [source]
          url = "%s"
          [aggregator]
          interval_seconds = 3600
          [http]
          listen = "127.0.0.1:%d"
          """.formatted(repo.dir(), port));
      List<String> serveCmd = MeterdJar.command(List.of(), List.of("serve", "--config", config.toString()));
      List<String> cmd = engine == LedgerEngine.SQLITE ? onTmpfs(small, "2m", "exec " + sh(serveCmd)) : serveCmd;
      ProcessBuilder pb = MeterdJar.process(cmd, db, tmp.resolve("serve.log"));
      pb.environment().put("METERD_ADMIN_TOKEN", TOKEN);
      Process serve = pb.start();
      try {
        Admin admin = new Admin(port);
        admin.awaitNodes(1);
        Path filler = null;
        if (engine == LedgerEngine.SQLITE) {
          // The daemon's tmpfs, seen from outside its mount namespace.
          Path inside = Path.of("/proc/" + serve.pid() + "/root").resolve(small.toString().substring(1));
          filler = inside.resolve("filler");
          fill(filler);
          // Room for a few pages: the node's write fills it, and its halt reuses what the write took.
          try (var channel = java.nio.channels.FileChannel.open(filler, java.nio.file.StandardOpenOption.WRITE)) {
            channel.truncate(channel.size() - 256 * 1024);
          }
        } else {
          fillDisk(db);
        }

        seed(repo, "node-b", 10_000, "bob");
        JsonObject full = admin.post("/admin/aggregate-now");
        assertThat(full.getInteger("nodes_halted")).as(full.encode()).isEqualTo(1);
        assertThat(full.getJsonArray("halted").getJsonObject(0).getString("error")).isEqualTo(fullDiskError(db));
        assertThat(admin.get("/admin/wallets/bob").statusCode()).isEqualTo(404);

        if (engine == LedgerEngine.SQLITE) {
          Files.delete(filler);
        } else {
          makeRoom(db);
        }
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
