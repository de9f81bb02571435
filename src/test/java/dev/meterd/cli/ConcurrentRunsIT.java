package dev.meterd.cli;

import static dev.meterd.testing.UsageRepo.HOUR_10;
import static dev.meterd.testing.UsageRepo.batch;
import static dev.meterd.testing.UsageRepo.record;
import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.ledger.SqliteLedger;
import dev.meterd.ledger.Wallet;
import dev.meterd.testing.UsageRepo;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Two `aggregate --once` processes (the built jar) on one database at once. */
class ConcurrentRunsIT {

  @TempDir
  Path tmp;

  private Process aggregate(Path repo, Path db, Path log, String... jvmOptions) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
    cmd.addAll(List.of(jvmOptions));
    cmd.addAll(List.of("-jar", Path.of("target", "meterd.jar").toAbsolutePath().toString(),
        "aggregate", "--once", "--db", db.toString(), "--source", repo.toString()));
    return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
  }

  /** The run summary a process printed (stdout carries only JSON; the log lines are on stderr). */
  private static JsonObject summary(Path log) throws Exception {
    return Files.readAllLines(log).stream().filter(l -> l.startsWith("{\"run_id\"")).map(JsonObject::new)
        .reduce((a, b) -> b).orElseThrow(() -> new AssertionError("no run summary in " + log));
  }

  private static long count(Path db, String sql) throws Exception {
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + db);
        Statement st = c.createStatement();
        ResultSet rs = st.executeQuery(sql)) {
      rs.next();
      return rs.getLong(1);
    }
  }

  @Test
  void twoProcessesPastTheRunLockStillChargeEachRecordOnce() throws Exception {
    int nodes = 200;
    int records = 20;
    Map<String, Long> expected = new TreeMap<>();
    try (UsageRepo repo = new UsageRepo(tmp.resolve("usage.git"))) {
      List<String> files = new ArrayList<>();
      for (int n = 0; n < nodes; n++) {
        StringBuilder text = new StringBuilder();
        for (int r = 0; r < records; r++) {
          String user = "u" + ((n + r) % 7);
          text.append(record("k" + n + "-" + r, user, 1 + r + n));
          expected.merge(user, -(1L + r + n), Long::sum);
        }
        files.addAll(List.of("nodes/n" + n + "/" + HOUR_10, batch(text.toString())));
      }
      repo.commit(files.toArray(String[]::new));
      Path db = tmp.resolve("meterd.db");
      String pastTheLock = "-Dmeterd.test.ignoreRunLock=true";
      Process first = aggregate(repo.dir(), db, tmp.resolve("first.log"), pastTheLock);
      Process second = aggregate(repo.dir(), db, tmp.resolve("second.log"), pastTheLock);
      assertThat(first.waitFor(180, TimeUnit.SECONDS)).isTrue();
      assertThat(second.waitFor(180, TimeUnit.SECONDS)).isTrue();
      assertThat(List.of(first.exitValue(), second.exitValue())).as("exit codes").containsExactly(0, 0);

      JsonObject a = summary(tmp.resolve("first.log"));
      JsonObject b = summary(tmp.resolve("second.log"));
      // Each node a process ran, it read whole (no cursor when it started): every record of it was
      // either consumed by this process or found consumed by the other. How the two interleave
      // varies from run to run; the sums do not.
      for (JsonObject s : List.of(a, b)) {
        assertThat(s.getLong("records_consumed") + s.getLong("records_duplicate"))
            .isEqualTo((long) s.getInteger("nodes_consumed") * records);
      }
      assertThat(a.getLong("records_consumed") + b.getLong("records_consumed")).isEqualTo((long) nodes * records);
      assertThat(count(db, "SELECT count(*) FROM consumed_record")).isEqualTo((long) nodes * records);
      assertThat(count(db, "SELECT sum(source_records) FROM ledger_txn WHERE type = 'charge'"))
          .isEqualTo((long) nodes * records);
      assertThat(count(db, "SELECT count(*) FROM node WHERE records_consumed_total = " + records)).isEqualTo(nodes);
      try (SqliteLedger ledger = SqliteLedger.open(db, Clock.systemUTC())) {
        Map<String, Long> balances = new TreeMap<>();
        for (Wallet w : ledger.reads().wallets()) {
          balances.put(w.userSid(), w.balanceCents());
        }
        assertThat(balances).isEqualTo(expected);
        assertThat(ledger.audit().verify()).isEmpty();
      }
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      assertThat(Main.execute(new String[] {"verify", "--replay", "--db", db.toString(), "--source",
          repo.dir().toString()}, new PrintStream(out, true, StandardCharsets.UTF_8), System.err, Map.of()))
          .isZero();
      assertThat(new JsonObject(out.toString(StandardCharsets.UTF_8).strip()))
          .isEqualTo(new JsonObject("{\"ok\":true,\"violations\":[]}"));
    }
  }

  @Test
  void twoProcessesNeverDebitARecordTwiceAndTheLoserSaysARunIsInProgress() throws Exception {
    long expected = 0;
    try (UsageRepo repo = new UsageRepo(tmp.resolve("usage.git"))) {
      List<String> files = new ArrayList<>();
      for (int n = 0; n < 300; n++) {
        files.add("nodes/n" + n + "/" + HOUR_10);
        files.add(batch(record("k" + n, "u" + (n % 7), n + 1)));
        expected += n + 1;
      }
      repo.commit(files.toArray(String[]::new));
      Path db = tmp.resolve("meterd.db");
      Process first = aggregate(repo.dir(), db, tmp.resolve("first.log"));
      Process second = aggregate(repo.dir(), db, tmp.resolve("second.log"));
      assertThat(first.waitFor(120, TimeUnit.SECONDS)).isTrue();
      assertThat(second.waitFor(120, TimeUnit.SECONDS)).isTrue();
      List<Integer> codes = List.of(first.exitValue(), second.exitValue());
      assertThat(codes).containsAnyOf(0).allMatch(c -> c == 0 || c == ExitCodes.RUN_IN_PROGRESS);
      for (Process p : List.of(first, second)) {
        if (p.exitValue() == ExitCodes.RUN_IN_PROGRESS) {
          File log = tmp.resolve(p == first ? "first.log" : "second.log").toFile();
          assertThat(java.nio.file.Files.readString(log.toPath()))
              .contains("meterd: an aggregation run is already in progress on this database");
        }
      }
      Process third = aggregate(repo.dir(), db, tmp.resolve("third.log"));
      assertThat(third.waitFor(120, TimeUnit.SECONDS)).isTrue();
      assertThat(third.exitValue()).isZero();
      try (SqliteLedger ledger = SqliteLedger.open(db, Clock.systemUTC())) {
        assertThat(ledger.reads().wallets().stream().mapToLong(Wallet::balanceCents).sum()).isEqualTo(-expected);
        assertThat(ledger.audit().verify()).isEmpty();
      }
    }
  }
}
