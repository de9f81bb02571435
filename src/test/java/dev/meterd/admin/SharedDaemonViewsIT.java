package dev.meterd.admin;

import static dev.meterd.testing.UsageRepo.HOUR_10;
import static dev.meterd.testing.UsageRepo.HOUR_11;
import static dev.meterd.testing.UsageRepo.batch;
import static dev.meterd.testing.UsageRepo.record;
import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.batch.BatchParser;
import dev.meterd.engine.Aggregator;
import dev.meterd.engine.FaultInjector;
import dev.meterd.engine.RunRequest;
import dev.meterd.ledger.PostgresLedger;
import dev.meterd.ledger.SqliteLedger;
import dev.meterd.source.git.GitBatchSource;
import dev.meterd.testing.LeaseLog;
import dev.meterd.testing.RunningDaemon;
import dev.meterd.testing.TestPostgres;
import dev.meterd.testing.UsageRepo;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpResponse;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.jsoup.nodes.Element;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a daemon sharing a PostgreSQL database with others shows: which daemon holds each node
 * (the API's held_by, the aggregator page's "Held by"), its own name, and its lease metrics.
 */
class SharedDaemonViewsIT {

  @TempDir
  Path tmp;

  private final TestPostgres.Database db = TestPostgres.freshDatabase();


  private static Map<String, Object> heldBy(JsonObject state) {
    Map<String, Object> result = new TreeMap<>();
    state.getJsonArray("nodes").forEach(n -> {
      JsonObject node = (JsonObject) n;
      result.put(node.getString("node"), node.getValue("held_by") == null ? "nobody" : node.getValue("held_by"));
    });
    return result;
  }

  private static String metric(String scrape, String name) {
    return scrape.lines().filter(l -> l.startsWith(name + "{")).findFirst().orElse("(no " + name + ")");
  }

  @Test
  void theStateThePageAndTheMetricsSayWhoHoldsEachNode() throws Exception {
    try (UsageRepo repo = new UsageRepo(tmp.resolve("usage.git"));
        SqliteLedger other = db.openAsDaemon("daemon-b", Clock.systemUTC())) {
      repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 10)), "nodes/C/" + HOUR_10, batch(record("c1", "u1", 5)));
      // daemon-b has run C once, and now holds it again for a newer file.
      try (GitBatchSource source = GitBatchSource.open(repo.dir().toString(), "main", tmp.resolve("clone-b"),
          Optional.empty())) {
        new Aggregator(source, other, new BatchParser(BatchParser.Limits.DEFAULT), Clock.systemUTC(),
            FaultInjector.NONE).run(new RunRequest(false, java.util.Set.of("C")));
      }
      repo.commit("nodes/C/" + HOUR_11, batch(record("c2", "u1", 7)));
      assertThat(other.leases().claim(List.of("C")).epochs()).isEqualTo(Map.of("C", 2L));

      try (RunningDaemon daemon = new RunningDaemon(tmp, GitBatchSource.open(repo.dir().toString(), "main",
          tmp.resolve("clone"), Optional.empty()), db, "")) {
        HttpResponse<Buffer> run = daemon.aggregateNowOnceFree();
        assertThat(run.statusCode()).as(run.bodyAsString()).isEqualTo(200);
        // A (10) by this daemon, c1 (5) by daemon-b; c2 waits for daemon-b, which holds C.
        assertThat(daemon.balance("u1")).isEqualTo(-15);

        JsonObject state = daemon.json("GET", "/admin/aggregator-state");
        String self = state.getString("daemon");
        assertThat(self).isEqualTo(PostgresLedger.PROCESS_HOLDER);
        assertThat(heldBy(state)).isEqualTo(Map.of("A", "nobody", "C", "daemon-b"));
        Element row = new PageSession(daemon, RunningDaemon.ADMIN_TOKEN).get("/admin/ui/aggregator")
            .select("#nodes tbody tr").stream().filter(tr -> tr.child(0).text().equals("C")).findFirst().orElseThrow();
        assertThat(row.select("td.held-by").text()).isEqualTo("daemon-b");
        String scrape = daemon.call("GET", "/metrics", RunningDaemon.ADMIN_TOKEN).bodyAsString();
        assertThat(metric(scrape, "meterd_lease_takeovers_total")).isEqualTo(
            "meterd_lease_takeovers_total{daemon=\"" + self + "\"} 0.0");
        assertThat(metric(scrape, "meterd_leases_held")).isEqualTo("meterd_leases_held{daemon=\"" + self + "\"} 0.0");

        // daemon-b stops renewing (it froze, say): its lease lapses, and this daemon takes C over.
        try (Connection c = DriverManager.getConnection(db.jdbcUrl(), db.user(), db.password());
            Statement st = c.createStatement()) {
          st.executeUpdate("UPDATE node_lease SET expires_at_ms = 0 WHERE node = 'C'");
        }
        HttpResponse<Buffer> again = daemon.aggregateNowOnceFree();
        assertThat(again.bodyAsJsonObject().getLong("records_consumed")).isEqualTo(1);
        assertThat(heldBy(daemon.json("GET", "/admin/aggregator-state"))).isEqualTo(Map.of("A", "nobody", "C", "nobody"));
        scrape = daemon.call("GET", "/metrics", RunningDaemon.ADMIN_TOKEN).bodyAsString();
        assertThat(metric(scrape, "meterd_lease_takeovers_total")).isEqualTo(
            "meterd_lease_takeovers_total{daemon=\"" + self + "\"} 1.0");
        assertThat(daemon.balance("u1")).isEqualTo(-22);
        try (Connection c = DriverManager.getConnection(db.jdbcUrl(), db.user(), db.password())) {
          assertThat(LeaseLog.violations(LeaseLog.read(c))).isEmpty();
          assertThat(LeaseLog.commitsByNode(LeaseLog.read(c)).get("C")).containsExactly("daemon-b", self);
        }
      }
    }
  }
}
