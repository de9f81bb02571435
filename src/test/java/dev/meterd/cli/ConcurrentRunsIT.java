package dev.meterd.cli;

import static dev.meterd.testing.UsageRepo.HOUR_10;
import static dev.meterd.testing.UsageRepo.batch;
import static dev.meterd.testing.UsageRepo.record;
import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.ledger.SqliteLedger;
import dev.meterd.ledger.Wallet;
import dev.meterd.testing.UsageRepo;
import java.io.File;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Two `aggregate --once` processes (the built jar) on one database at once. */
class ConcurrentRunsIT {

  @TempDir
  Path tmp;

  private Process aggregate(Path repo, Path db, Path log) throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    return new ProcessBuilder(java, "-jar", Path.of("target", "meterd.jar").toAbsolutePath().toString(),
        "aggregate", "--once", "--db", db.toString(), "--source", repo.toString())
        .redirectErrorStream(true).redirectOutput(log.toFile()).start();
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
        assertThat(ledger.wallets().stream().mapToLong(Wallet::balanceCents).sum()).isEqualTo(-expected);
        assertThat(ledger.verify()).isEmpty();
      }
    }
  }
}
