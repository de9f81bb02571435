package dev.meterd.cli;

import static dev.meterd.testing.UsageRepo.HOUR_10;
import static dev.meterd.testing.UsageRepo.HOUR_11;
import static dev.meterd.testing.UsageRepo.batch;
import static dev.meterd.testing.UsageRepo.record;
import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.engine.FaultInjector;
import dev.meterd.ledger.Ledger;
import dev.meterd.ledger.SqliteLedger;
import dev.meterd.ledger.Wallet;
import dev.meterd.testing.UsageRepo;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The jar killed as by a power cut (at each named fault point, and with SIGKILL at random
 * moments), then run again: the ledger ends exactly as a clean run leaves it, and verify holds.
 */
class CrashIT {

  @TempDir
  Path tmp;

  private static final String JAVA = Path.of(System.getProperty("java.home"), "bin", "java").toString();

  private Process start(Path repo, Path db, String fault) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(JAVA));
    if (fault != null) {
      cmd.add("-Dmeterd.fault=" + fault);
    }
    cmd.addAll(List.of("-jar", Path.of("target", "meterd.jar").toAbsolutePath().toString(), "aggregate", "--once",
        "--db", db.toString(), "--source", repo.toString()));
    return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(tmp.resolve("last.log").toFile()).start();
  }

  private int run(Path repo, Path db, String fault) throws Exception {
    Process p = start(repo, db, fault);
    assertThat(p.waitFor(180, TimeUnit.SECONDS)).isTrue();
    return p.exitValue();
  }

  /** Each wallet's balance and the consumed records (node, key, user, cost) of a database. */
  private static Map<String, Object> state(Path db) {
    Map<String, Object> state = new TreeMap<>();
    try (SqliteLedger ledger = SqliteLedger.open(db, Clock.systemUTC())) {
      for (Wallet w : ledger.wallets()) {
        state.put("wallet " + w.userSid(), w.balanceCents());
      }
      for (String node : ledger.nodes().keySet()) {
        List<Ledger.Consumed> records = new ArrayList<>();
        ledger.forEachConsumed(node, records::add);
        state.put("node " + node, records);
      }
      assertThat(ledger.verify()).as("verify of " + db).isEmpty();
    }
    return state;
  }

  private void seed(UsageRepo repo, int nodes, int records) throws Exception {
    List<String> files = new ArrayList<>();
    for (int n = 0; n < nodes; n++) {
      StringBuilder a = new StringBuilder();
      StringBuilder b = new StringBuilder();
      for (int r = 0; r < records; r++) {
        a.append(record("n" + n + "-" + r, "u" + (r % 5), 1 + r + n));
        b.append(record("n" + n + "-late-" + r, "u" + (r % 3), 2));
      }
      files.addAll(List.of("nodes/node-" + n + "/" + HOUR_10, batch(a.toString()),
          "nodes/node-" + n + "/" + HOUR_11, batch(b.toString())));
    }
    repo.commit(files.toArray(String[]::new));
  }

  @ParameterizedTest
  @EnumSource(FaultInjector.Point.class)
  void aKillAtAnyFaultPointIsRedoneExactlyOnce(FaultInjector.Point point) throws Exception {
    try (UsageRepo repo = new UsageRepo(tmp.resolve("usage.git"))) {
      seed(repo, 3, 4);
      Path reference = tmp.resolve("reference.db");
      assertThat(run(repo.dir(), reference, null)).isZero();

      Path db = tmp.resolve("crashed.db");
      String fault = point.name().toLowerCase(Locale.ROOT).replace('_', '-') + ":node-1";
      assertThat(run(repo.dir(), db, fault)).as("the process was killed at " + fault).isEqualTo(137);
      assertThat(run(repo.dir(), db, null)).isZero();
      assertThat(state(db)).isEqualTo(state(reference));
    }
  }

  @Test
  void sigkillAtRandomMomentsLosesNothingAndChargesNothingTwice() throws Exception {
    try (UsageRepo repo = new UsageRepo(tmp.resolve("usage.git"))) {
      seed(repo, 300, 40);
      Path reference = tmp.resolve("reference.db");
      assertThat(run(repo.dir(), reference, null)).isZero();

      Path db = tmp.resolve("killed.db");
      Random random = new Random(20261122);
      int kills = 0;
      for (int attempt = 0; attempt < 6; attempt++) {
        Process p = start(repo.dir(), db, null);
        if (!p.waitFor(200 + random.nextInt(1000), TimeUnit.MILLISECONDS)) {
          p.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
          kills++;
        }
      }
      assertThat(kills).as("the loop killed at least one run").isPositive();
      assertThat(run(repo.dir(), db, null)).isZero();
      assertThat(state(db)).isEqualTo(state(reference));
    }
  }
}
