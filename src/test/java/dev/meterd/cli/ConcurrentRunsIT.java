package dev.meterd.cli;

import static dev.meterd.testing.UsageRepo.HOUR_10;
import static dev.meterd.testing.UsageRepo.batch;
import static dev.meterd.testing.UsageRepo.record;
import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.ledger.LedgerEngine;
import dev.meterd.ledger.SqliteLedger;
import dev.meterd.ledger.TestDatabase;
import dev.meterd.ledger.Wallet;
import dev.meterd.testing.LeaseLog;
import dev.meterd.testing.UsageRepo;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** Two `aggregate --once` processes (the built jar) on one database at once, on each engine. */
@ParameterizedClass
@EnumSource(LedgerEngine.class)
class ConcurrentRunsIT {

  @Parameter
  LedgerEngine engine;

  @TempDir
  Path tmp;

  private TestDatabase db;
  private Path config;

  @BeforeEach
  void setUp() throws Exception {
    db = engine.freshDatabase(tmp);
    config = MeterdJar.config(tmp.resolve("meterd.toml"), db, "");
  }

  private Process aggregate(Path repo, Path log, String... jvmOptions) throws Exception {
    return MeterdJar.process(MeterdJar.command(List.of(jvmOptions), List.of("aggregate", "--once", "--config",
        config.toString(), "--source", repo.toString())), db, log).start();
  }

  /** The run summary a process printed (stdout carries only JSON; the log lines are on stderr). */
  private static JsonObject summary(Path log) throws Exception {
    return Files.readAllLines(log).stream().filter(l -> l.startsWith("{\"run_id\"")).map(JsonObject::new)
        .reduce((a, b) -> b).orElseThrow(() -> new AssertionError("no run summary in " + log));
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
      // Past the run lock, and on PostgreSQL past the leases too: both processes run every node,
      // and the consumed-record key alone keeps each record charged once.
      String pastTheLock = "-Dmeterd.test.ignoreRunLock=true";
      Process first = aggregate(repo.dir(), tmp.resolve("first.log"), pastTheLock);
      Process second = aggregate(repo.dir(), tmp.resolve("second.log"), pastTheLock);
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
      assertThat(db.number("SELECT count(*) FROM consumed_record")).isEqualTo((long) nodes * records);
      assertThat(db.number("SELECT sum(source_records) FROM ledger_txn WHERE type = 'charge'"))
          .isEqualTo((long) nodes * records);
      assertThat(db.number("SELECT count(*) FROM node WHERE records_consumed_total = " + records)).isEqualTo(nodes);
      assertThat(balances()).isEqualTo(expected);
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      assertThat(Main.execute(new String[] {"verify", "--replay", "--config", config.toString(), "--source",
          repo.dir().toString()}, new PrintStream(out, true, StandardCharsets.UTF_8), System.err, db.environment()))
          .isZero();
      assertThat(new JsonObject(out.toString(StandardCharsets.UTF_8).strip()))
          .isEqualTo(new JsonObject("{\"ok\":true,\"violations\":[]}"));
    }
  }

  /** Each wallet's balance; verify must hold. */
  private Map<String, Long> balances() {
    try (SqliteLedger ledger = db.open(Clock.systemUTC())) {
      Map<String, Long> balances = new TreeMap<>();
      for (Wallet w : ledger.reads().wallets()) {
        balances.put(w.userSid(), w.balanceCents());
      }
      assertThat(ledger.audit().verify()).isEmpty();
      return balances;
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
      Process first = aggregate(repo.dir(), tmp.resolve("first.log"));
      Process second = aggregate(repo.dir(), tmp.resolve("second.log"));
      assertThat(first.waitFor(120, TimeUnit.SECONDS)).isTrue();
      assertThat(second.waitFor(120, TimeUnit.SECONDS)).isTrue();
      List<Integer> codes = List.of(first.exitValue(), second.exitValue());
      if (engine == LedgerEngine.SQLITE) {
        // The run lock is the file's: whichever process comes second while the first runs is
        // refused (and if the first had ended, it runs over what is left).
        assertThat(codes).containsAnyOf(0).allMatch(c -> c == 0 || c == ExitCodes.RUN_IN_PROGRESS);
        for (Process p : List.of(first, second)) {
          if (p.exitValue() == ExitCodes.RUN_IN_PROGRESS) {
            Path log = tmp.resolve(p == first ? "first.log" : "second.log");
            assertThat(Files.readString(log))
                .contains("meterd: an aggregation run is already in progress on this database");
          }
        }
      } else {
        // On PostgreSQL the run lock is the process's: two processes are two daemons, which
        // share the nodes by their leases, each node committed by one of them.
        assertThat(codes).as("exit codes").containsExactly(0, 0);
        List<LeaseLog.Entry> log;
        try (Connection c = db.jdbc()) {
          log = LeaseLog.read(c);
        }
        assertThat(LeaseLog.violations(log)).isEmpty();
        assertThat(LeaseLog.commitsByNode(log)).hasSize(300)
            .allSatisfy((node, holders) -> assertThat(holders).as(node).hasSize(1));
      }
      Process third = aggregate(repo.dir(), tmp.resolve("third.log"));
      assertThat(third.waitFor(120, TimeUnit.SECONDS)).isTrue();
      assertThat(third.exitValue()).isZero();
      assertThat(db.number("SELECT count(*) FROM consumed_record")).isEqualTo(300);
      assertThat(balances().values().stream().mapToLong(Long::longValue).sum()).isEqualTo(-expected);
    }
  }
}
