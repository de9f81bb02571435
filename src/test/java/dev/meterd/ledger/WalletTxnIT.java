package dev.meterd.ledger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meterd.batch.UsageRecord;
import dev.meterd.testing.MutableClock;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** wallet_txn (V009): every ledger row a commit keeps is listed once, under its wallet (cases a review found). */
class WalletTxnIT {

  @TempDir
  Path tmp;

  private final MutableClock clock = new MutableClock(Instant.parse("2026-11-21T10:05:00Z"));

  private static UsageRecord rec(String key, String user, long cost) {
    return new UsageRecord(key, user, cost, Instant.parse("2026-11-21T10:00:00Z"), null, null, 1);
  }

  private SqliteLedger open() {
    return SqliteLedger.open(tmp.resolve("l.db"), clock);
  }

  private Connection jdbc() throws SQLException {
    return DriverManager.getConnection("jdbc:sqlite:" + tmp.resolve("l.db"));
  }

  private static void run(NodeStore.NodeGroup group, String node, UsageRecord... records) throws Exception {
    try (NodeStore.NodeWrite w = group.beginNode(node)) {
      w.add("nodes/" + node + "/usage_2026-11-21-10.toml", List.of(records));
      w.commit(new NodeCursor("c0ffee", "7ree", null));
    }
  }

  private static List<Long> ids(SqliteLedger ledger, String user) {
    return ledger.reads().transactions(user, 10).stream().map(LedgerTxn::txnId).toList();
  }

  /**
   * The first node of a group writes its charge rows and then fails (its balance would overflow):
   * its savepoint is rolled back while the lowest id stays recorded; the next nodes reuse its ids.
   */
  @Test
  void aNodeRolledBackToItsSavepointAfterItsLedgerRowsLeavesTheOthersListedOnce() throws Exception {
    try (SqliteLedger ledger = open()) {
      try (NodeStore.NodeWrite w = ledger.nodeStore().beginNode("Z", false)) {
        w.add("nodes/Z/usage_2026-11-21-10.toml", List.of(rec("z1", "big", Long.MAX_VALUE)));
        w.commit(new NodeCursor("c0ffee", "7ree", null));
      }
      try (NodeStore.NodeGroup group = ledger.nodeStore().beginGroup(false)) {
        assertThatThrownBy(() -> run(group, "B", rec("b1", "u9", 4), rec("b2", "big", 2)))
            .isInstanceOf(BalanceOutOfRangeException.class);
        run(group, "A", rec("a1", "u1", 5), rec("a2", "u2", 7));
        run(group, "C", rec("c1", "u2", 1), rec("c2", "u1", 2));
        group.commit();
      }
      assertThat(ids(ledger, "u1")).containsExactly(5L, 2L);
      assertThat(ids(ledger, "u2")).containsExactly(4L, 3L);
      assertThat(ids(ledger, "u9")).isEmpty();
      assertThat(ledger.audit().verify()).isEmpty();
    }
  }

  /** The listing INSERT fails (here a trigger stands for a full disk): the group is lost whole, and the next write lists only its own rows. */
  @Test
  void aFailedListingLosesTheGroupWholeAndTheNextWriteStartsClean() throws Exception {
    try (SqliteLedger ledger = open()) {
      ledger.walletStore().credit("u1", TxnType.GRANT, 100, "alice", null);
      try (Connection c = jdbc(); Statement st = c.createStatement()) {
        st.execute("CREATE TRIGGER refuse_list BEFORE INSERT ON wallet_txn BEGIN SELECT RAISE(ABORT, 'disk says no'); END");
      }
      NodeStore.NodeGroup group = ledger.nodeStore().beginGroup(false);
      run(group, "A", rec("a1", "u1", 5));
      assertThatThrownBy(group::commit).isInstanceOf(LedgerException.class).hasMessageContaining("disk says no");
      group.close();
      assertThatThrownBy(() -> ledger.walletStore().credit("u1", TxnType.GRANT, 3, "alice", null))
          .hasMessageContaining("disk says no");
      try (Connection c = jdbc(); Statement st = c.createStatement()) {
        st.execute("DROP TRIGGER refuse_list");
      }
      ledger.walletStore().credit("u1", TxnType.GRANT, 3, "alice", null);
      assertThat(ids(ledger, "u1")).containsExactly(2L, 1L);
      assertThat(ledger.reads().wallet("u1").orElseThrow().balanceCents()).isEqualTo(103);
      assertThat(ledger.audit().verify()).isEmpty();
    }
  }

  /**
   * A meterd of schema version 8 that opened the ledger before another process upgraded it (a
   * daemon left running through the upgrade) keeps writing ledger rows, unlisted. Simulated by
   * exactly the rows its credit writes. The next listed commit lists from its own first row only,
   * so the old row is never listed: the wallet's page omits that grant for good, and verify fails
   * for good (wallet_txn cannot be repaired by any command).
   */
  @Test
  void aLedgerRowCommittedUnlistedIsListedByTheNextCommit() throws Exception {
    try (SqliteLedger ledger = open()) {
      ledger.walletStore().credit("u1", TxnType.GRANT, 100, "alice", null);
    }
    try (Connection c = jdbc()) {
      c.setAutoCommit(false);
      String previous;
      try (Statement st = c.createStatement();
          ResultSet rs = st.executeQuery("SELECT row_hash FROM ledger_txn ORDER BY txn_id DESC LIMIT 1")) {
        rs.next();
        previous = rs.getString(1);
      }
      SqliteWalletRows.Txn txn = new SqliteWalletRows.Txn(2, 1, TxnType.GRANT, 50, "2026-11-21T10:06:00Z", "bob",
          null, null, null, null);
      try (PreparedStatement ps = c.prepareStatement("INSERT INTO ledger_txn (txn_id, wallet_id, type, amount_cents, "
          + "occurred_at, initiated_by, row_hash) VALUES (2, 1, 'grant', 50, '2026-11-21T10:06:00Z', 'bob', ?)")) {
        ps.setString(1, TxnHash.of(previous, txn));
        ps.executeUpdate();
      }
      try (Statement st = c.createStatement()) {
        st.execute("UPDATE wallet SET balance_cents = balance_cents + 50 WHERE wallet_id = 1");
      }
      c.commit();
    }
    try (SqliteLedger ledger = open()) {
      ledger.walletStore().credit("u1", TxnType.GRANT, 7, "alice", null);
      assertThat(ledger.reads().wallet("u1").orElseThrow().balanceCents()).isEqualTo(157);
      assertThat(ledger.audit().verify()).isEmpty();
      assertThat(ids(ledger, "u1")).containsExactly(3L, 2L, 1L);
    }
  }
}
