package dev.meterd.daemon;

import static dev.meterd.testing.UsageRepo.HOUR_10;
import static dev.meterd.testing.UsageRepo.batch;
import static dev.meterd.testing.UsageRepo.record;
import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.ledger.PostgresLedger;
import dev.meterd.ledger.SqliteLedger;
import dev.meterd.source.git.GitBatchSource;
import dev.meterd.testing.CountingSource;
import dev.meterd.testing.LedgerContents;
import dev.meterd.testing.LocalPostgresCluster;
import dev.meterd.testing.RunningDaemon;
import dev.meterd.testing.TestPostgres;
import dev.meterd.testing.UsageRepo;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpResponse;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The daemon on PostgreSQL, with the server stopped in the middle of a run and started again:
 * runs and requests fail with a clear error while it is down, and once it is back the same
 * daemon's next run applies what is left, every record charged once.
 */
class PostgresRestartDaemonIT {

  private static final String HINT = "; check that PostgreSQL is running and reachable";

  @TempDir
  Path tmp;

  private final LocalPostgresCluster cluster = LocalPostgresCluster.startOwn();
  private final TestPostgres.Database db = cluster.freshDatabase();

  @AfterEach
  void removeCluster() {
    cluster.close();
  }


  @Test
  void runsFailClearlyWhileTheServerIsDownAndTheNextOneAfterItsRestartChargesEachRecordOnce() throws Exception {
    try (UsageRepo repo = new UsageRepo(tmp.resolve("usage.git"))) {
      repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 10), record("a2", "u2", 20)),
          "nodes/B/" + HOUR_10, batch(record("b1", "u1", 5)));
      CountingSource source = new CountingSource(GitBatchSource.open(repo.dir().toString(), "main",
          tmp.resolve("clone"), Optional.empty()));
      // The run at start stalls reading node B, after node A: the server stops there.
      source.stallingNode = "B";
      try (RunningDaemon daemon = new RunningDaemon(tmp, source, db, "busy_timeout_ms = 2000")) {
        assertThat(source.stalled.await(60, TimeUnit.SECONDS)).isTrue();
        cluster.stop();
        source.release.countDown();

        HttpResponse<Buffer> down = daemon.aggregateNowOnceFree();
        assertThat(down.statusCode()).as(down.bodyAsString()).isEqualTo(503);
        String refused = ": no connection could be made as user " + db.user() + ": Connection to 127.0.0.1:"
            + cluster.port() + " refused. Check that the hostname and port are correct and that the postmaster is "
            + "accepting TCP/IP connections." + HINT;
        assertThat(down.bodyAsJsonObject().getString("error")).isEqualTo("cannot read the run mark in the database "
            + db.jdbcUrl() + refused);
        HttpResponse<Buffer> state = daemon.call("GET", "/admin/aggregator-state", RunningDaemon.ADMIN_TOKEN);
        assertThat(state.statusCode()).isEqualTo(503);
        assertThat(state.bodyAsJsonObject().getString("error")).isEqualTo("cannot read the node states in the "
            + "database " + db.jdbcUrl() + refused);

        cluster.start();
        HttpResponse<Buffer> back = daemon.aggregateNowOnceFree();
        assertThat(back.statusCode()).as(back.bodyAsString()).isEqualTo(200);
        assertThat(back.bodyAsJsonObject().getJsonArray("halted")).isEmpty();
        assertThat(daemon.json("GET", "/admin/aggregator-state").getJsonArray("nodes").stream()
            .map(n -> ((JsonObject) n).getString("node") + " " + ((JsonObject) n).getString("status")))
            .containsExactly("A ok", "B ok");
        daemon.grant("u1", 1_000);
        daemon.grant("u2", 1_000);
        assertThat(daemon.balance("u1")).isEqualTo(985);
        assertThat(daemon.balance("u2")).isEqualTo(980);
        JsonObject authorize = daemon.json("GET", "/v1/authorize/u1?cost_cents=5");
        assertThat(authorize.getLong("balance_cents")).isEqualTo(985);
      }
      try (SqliteLedger ledger = PostgresLedger.open(db.jdbcUrl(), db.user(), db.password(), Clock.systemUTC())) {
        assertThat(LedgerContents.consumedKeys(ledger, "A")).containsExactly("a1", "a2");
        assertThat(LedgerContents.consumedKeys(ledger, "B")).containsExactly("b1");
        assertThat(ledger.reads().transactions("u1", 10)).extracting(t -> t.amountCents())
            .containsExactlyInAnyOrder(-10L, -5L, 1_000L);
        assertThat(ledger.reads().transactions("u2", 10)).extracting(t -> t.amountCents())
            .containsExactlyInAnyOrder(-20L, 1_000L);
        assertThat(ledger.audit().verify()).isEmpty();
      }
    }
  }
}
