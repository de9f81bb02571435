package dev.meterd.daemon;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.ledger.PostgresLedger;
import dev.meterd.ledger.SqliteLedger;
import dev.meterd.ledger.Wallet;
import dev.meterd.testing.DaemonProcess;
import dev.meterd.testing.LeaseLog;
import dev.meterd.testing.TestPostgres;
import dev.meterd.testing.UsageRepo;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Several {@code meterd serve} processes on one PostgreSQL database, as on several machines: one
 * killed in the middle of its run, one frozen past its lease and resumed. What no node was run by
 * two daemons at once rests on is the lease log ({@link LeaseLog}), not the absence of errors.
 */
class SeveralDaemonsIT {

  private static final int NODES = 300;
  private static final int RECORDS = 200;
  private static final int USERS = 50;

  @TempDir
  Path tmp;

  private final TestPostgres.Database db = TestPostgres.freshDatabase();
  private final List<DaemonProcess> daemons = new ArrayList<>();
  private UsageRepo repo;

  @AfterEach
  void stopAll() throws Exception {
    for (DaemonProcess d : daemons) {
      d.close();
    }
    if (repo != null) {
      repo.close();
    }
  }

  private DaemonProcess start(String name) throws Exception {
    Path config = tmp.resolve(name + ".toml");
    Files.writeString(config, """
        [source]
        url = "%s"
        clone_dir = "%s"

        [storage]
        kind = "postgres"
        url = "%s"
        user = "%s"
        lease_seconds = 3

        [aggregator]
        interval_seconds = 1

        [http]
        listen = "127.0.0.1:0"
        """.formatted(repo.dir(), tmp.resolve("clone-" + name), db.jdbcUrl(), db.user()));
    DaemonProcess d = DaemonProcess.start(name, config, tmp, Map.of("METERD_DB_PASSWORD", db.password(),
        "METERD_ADMIN_TOKEN", "admin-token-0123456789"));
    daemons.add(d);
    return d;
  }

  /** Every node's one file, committed once the daemons are up, so that all of them share the run. */
  private long commitUsage() throws Exception {
    return commitUsage(1);
  }

  /** RECORDS new records for each node, in a file of hour {@code 9 + round}; returns their cost. */
  private long commitUsage(int round) throws Exception {
    List<String> files = new ArrayList<>();
    long total = 0;
    for (int n = 0; n < NODES; n++) {
      StringBuilder records = new StringBuilder();
      for (int r = 0; r < RECORDS; r++) {
        long cost = 1 + (n * 7 + r) % 13;
        total += cost;
        records.append(UsageRepo.record("n" + n + "-r" + r + (round == 1 ? "" : "-" + round), "user-" + (n + r) % USERS,
            cost));
      }
      files.add("nodes/edge-%03d/usage_2026-11-21-%02d.toml".formatted(n, 9 + round));
      files.add(UsageRepo.batch(records.toString()));
    }
    repo.commit(files.toArray(String[]::new));
    return total;
  }

  private Connection jdbc() throws SQLException {
    return DriverManager.getConnection(db.jdbcUrl(), db.user(), db.password());
  }

  private long number(String sql, Object... params) {
    try (Connection c = jdbc(); PreparedStatement ps = c.prepareStatement(sql)) {
      for (int i = 0; i < params.length; i++) {
        ps.setObject(i + 1, params[i]);
      }
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        return rs.getLong(1);
      }
    } catch (SQLException e) {
      // Before the first daemon created the tables.
      return -1;
    }
  }

  private List<String> strings(String sql, Object... params) throws SQLException {
    try (Connection c = jdbc(); PreparedStatement ps = c.prepareStatement(sql)) {
      for (int i = 0; i < params.length; i++) {
        ps.setObject(i + 1, params[i]);
      }
      List<String> result = new ArrayList<>();
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          result.add(rs.getString(1));
        }
      }
      return result;
    }
  }

  /** Nodes {@code holder} has claimed and not yet committed, halted or given back, as the database has them. */
  private List<String> openClaims(String holder) throws SQLException {
    return strings("SELECT node FROM node_lease WHERE holder = ? ORDER BY node", holder);
  }

  private long commits(String holder) {
    return number("SELECT count(*) FROM lease_log WHERE holder = ? AND event = 'commit'", holder);
  }

  private List<LeaseLog.Entry> leaseLog() throws SQLException {
    try (Connection c = jdbc()) {
      return LeaseLog.read(c);
    }
  }

  /** Each record charged once, to the cent, every node committed once, verify green, the log a proof. */
  private void assertEveryRecordChargedOnce(long total) throws Exception {
    assertEveryRecordChargedOnce(total, 1);
  }

  /** As after {@code rounds} of {@link #commitUsage(int)}: each node committed once a round. */
  private void assertEveryRecordChargedOnce(long total, int rounds) throws Exception {
    assertThat(number("SELECT count(*) FROM consumed_record")).isEqualTo((long) NODES * RECORDS * rounds);
    try (SqliteLedger ledger = PostgresLedger.open(db.jdbcUrl(), db.user(), db.password(), Clock.systemUTC())) {
      long charged = 0;
      for (Wallet w : ledger.reads().wallets()) {
        charged -= w.balanceCents();
      }
      assertThat(charged).isEqualTo(total);
      assertThat(ledger.audit().verify()).isEmpty();
      assertThat(ledger.reads().nodes()).hasSize(NODES).allSatisfy((node, state) ->
          assertThat(state.recordsConsumedTotal()).as(node).isEqualTo((long) RECORDS * rounds));
    }
    List<LeaseLog.Entry> log = leaseLog();
    assertThat(LeaseLog.violations(log)).isEmpty();
    assertThat(LeaseLog.commitsByNode(log)).hasSize(NODES)
        .allSatisfy((node, holders) -> assertThat(holders).as(node).hasSize(rounds));
  }

  @Test
  void aKilledDaemonsNodesAreFinishedByTheOthersAfterItsLeasesLapse() throws Exception {
    repo = new UsageRepo(tmp.resolve("usage.git"));
    repo.commit("README", "usage lands below nodes/\n");
    DaemonProcess victim = start("d1");
    DaemonProcess second = start("d2");
    DaemonProcess third = start("d3");
    String victimName = victim.holder();
    second.holder();
    third.holder();
    long total = commitUsage();

    // Killed once it has committed a node and holds claims on others: in the middle of its run.
    DaemonProcess.await("d1 to commit a node and hold claims", Duration.ofMinutes(2),
        () -> commits(victimName) > 0 && number("SELECT count(*) FROM node_lease WHERE holder = ?", victimName) > 0);
    victim.kill();
    List<String> orphaned = openClaims(victimName);
    assertThat(orphaned).as("the nodes d1 held when it was killed").isNotEmpty();

    DaemonProcess.await("every record to be charged", Duration.ofMinutes(3),
        () -> number("SELECT count(*) FROM consumed_record") == (long) NODES * RECORDS);
    assertThat(second.stop()).isZero();
    assertThat(third.stop()).isZero();

    assertEveryRecordChargedOnce(total);
    List<LeaseLog.Entry> log = leaseLog();
    Set<String> takenOver = new HashSet<>();
    for (LeaseLog.Entry e : log) {
      if (e.event().equals("takeover")) {
        takenOver.add(e.node());
      }
    }
    assertThat(takenOver).as("d1's nodes, taken over once its leases lapsed").containsAll(orphaned);
    Map<String, List<String>> commits = LeaseLog.commitsByNode(log);
    for (String node : orphaned) {
      assertThat(commits.get(node)).as(node).doesNotContain(victimName);
    }
    assertThat(openClaims(victimName)).isEmpty();
    assertThat(number("SELECT count(*) FROM node_lease WHERE holder IS NOT NULL")).as("given back at the clean stops")
        .isZero();
  }

  @Test
  void aDaemonFrozenPastItsLeaseHasItsWriteRefusedWhenItResumes() throws Exception {
    repo = new UsageRepo(tmp.resolve("usage.git"));
    repo.commit("README", "usage lands below nodes/\n");
    DaemonProcess victim = start("d1");
    DaemonProcess other = start("d2");
    String victimName = victim.holder();
    String otherName = other.holder();
    long total = commitUsage();

    // Frozen while it holds claims and no transaction: as a GC pause between two nodes. (Frozen
    // inside a transaction, the server would end that transaction once idle as long as a lease.)
    // The two daemons may charge every record before such a moment is caught (a loaded machine):
    // then another round of usage gives d1 claims to hold again.
    List<String> frozenWith = List.of();
    int rounds = 1;
    long deadline = System.nanoTime() + Duration.ofMinutes(4).toNanos();
    while (frozenWith.isEmpty()) {
      assertThat(System.nanoTime()).as("a moment when d1 holds claims outside a transaction").isLessThan(deadline);
      long charged = (long) NODES * RECORDS * rounds;
      DaemonProcess.await("d1 to hold claims, or every record to be charged", Duration.ofMinutes(2),
          () -> number("SELECT count(*) FROM node_lease WHERE holder = ?", victimName) > 0
              || number("SELECT count(*) FROM consumed_record") == charged);
      if (number("SELECT count(*) FROM node_lease WHERE holder = ?", victimName) == 0) {
        total += commitUsage(++rounds);
        continue;
      }
      victim.freeze();
      boolean inTransaction = number("SELECT count(*) FROM pg_stat_activity WHERE application_name = left(?, 63) "
          + "AND state IN ('active', 'idle in transaction', 'idle in transaction (aborted)')",
          "meterd " + victimName) > 0;
      List<String> held = openClaims(victimName);
      if (inTransaction || held.isEmpty()) {
        victim.thaw();
        continue;
      }
      frozenWith = held;
    }

    List<String> frozen = frozenWith;
    DaemonProcess.await("d2 to take over the nodes d1 froze with", Duration.ofMinutes(2), () -> {
      try {
        return leaseLog().stream().filter(e -> e.event().equals("takeover") && e.holder().equals(otherName))
            .map(LeaseLog.Entry::node).toList().containsAll(frozen);
      } catch (SQLException e) {
        throw new IllegalStateException(e);
      }
    });
    victim.thaw();

    victim.awaitOutput("is no longer this daemon's \\(" + java.util.regex.Pattern.quote(victimName) + "\\)");
    long charged = (long) NODES * RECORDS * rounds;
    DaemonProcess.await("every record to be charged", Duration.ofMinutes(3),
        () -> number("SELECT count(*) FROM consumed_record") == charged);
    assertThat(victim.stop()).isZero();
    assertThat(other.stop()).isZero();

    assertEveryRecordChargedOnce(total, rounds);
    Map<String, List<String>> commits = LeaseLog.commitsByNode(leaseLog());
    for (String node : frozen) {
      // The round d1 froze in was committed by d2 alone; earlier rounds by either.
      assertThat(commits.get(node)).as(node).hasSize(rounds).last().isEqualTo(otherName);
    }
  }
}
