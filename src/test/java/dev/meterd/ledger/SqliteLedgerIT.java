package dev.meterd.ledger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Instant;
import org.junit.jupiter.api.Test;

/** The ledger's contract on real SQLite files, and what only SQLite has: its files' older schemas. */
class SqliteLedgerIT extends LedgerContractTests {

  @Override
  LedgerEngine engine() {
    return LedgerEngine.SQLITE;
  }

  /**
   * SQLite only: its run lock is a file beside the database, which every name of the file must
   * find (PostgreSQL's is an advisory lock in the database, one whatever the URL).
   */
  @Test
  void theRunLockIsTheSameThroughEveryNameOfTheDatabase() throws Exception {
    Path file = ((TestDatabase.SqliteFile) db).file();
    Path link = java.nio.file.Files.createSymbolicLink(tmp.resolve("link.db"), file);
    try (SqliteLedger ledger = open();
        SqliteLedger viaLink = SqliteLedger.open(link, clock);
        SqliteLedger relative = SqliteLedger.open(Path.of("").toAbsolutePath().relativize(file.toAbsolutePath()),
            clock);
        var lock = viaLink.tryLockRun().orElseThrow()) {
      assertThat(ledger.tryLockRun()).isEmpty();
      assertThat(relative.tryLockRun()).isEmpty();
    }
    assertThat(java.nio.file.Files.exists(tmp.resolve("link.db.run-lock"))).isFalse();
    assertThat(java.nio.file.Files.exists(file.resolveSibling(file.getFileName() + ".run-lock"))).isTrue();
  }

  /**
   * Version 2 reads the hour's next files (.N.toml) that version 1 passed over: upgrading makes
   * the next run read every node's folder whole, so such a file committed before is consumed.
   */
  @Test
  void upgradingFromVersionOneMakesTheNextRunReadEveryFolderWhole() throws Exception {
    try (Connection c = jdbc(); Statement st = c.createStatement()) {
      OldSchemas.create(st, 1);
      st.execute("INSERT INTO node (name, last_commit_sha, tree_id) VALUES ('A', 'c0ffee', '7ree')");
      st.execute("UPDATE run_mark SET full_tip = 'c0ffee', nodes_total = 1 WHERE id = 1");
    }
    try (SqliteLedger ledger = open()) {
      assertThat(ledger.nodeStore().tracks().get("A")).isEqualTo(new NodeStore.NodeTrack("c0ffee", null, null, null));
      assertThat(ledger.nodeStore().runMark()).isEqualTo(new NodeStore.RunMark(null, 1, 0, null));
    }
  }

  /**
   * Version 4 counts spend per wallet and day: upgrading counts the usage consumed before it, so
   * a cap set on the day of the upgrade counts that day's earlier charges, and verify holds.
   */
  @Test
  void upgradingFromVersionThreeCountsTheSpendConsumedBefore() throws Exception {
    try (Connection c = jdbc(); Statement st = c.createStatement()) {
      OldSchemas.create(st, 3);
      String hash = TxnHash.of(TxnHash.GENESIS, new SqliteWalletRows.Txn(1, 1, TxnType.CHARGE, -4_000,
          "2026-11-21T10:00:00Z", "aggregator", 1L, "c0ffee", 2, null));
      st.execute("INSERT INTO node (node_id, name, last_commit_sha, tree_id, records_consumed_total) "
          + "VALUES (1, 'A', 'c0ffee', '7ree', 2)");
      st.execute("INSERT INTO wallet (wallet_id, user_sid, balance_cents, created_at, updated_at) "
          + "VALUES (1, 'u1', -4000, '2026-11-21T10:00:00Z', '2026-11-21T10:00:00Z')");
      st.execute("INSERT INTO source_file (file_id, node_id, path) VALUES (1, 1, 'nodes/A/usage_2026-11-21-01.toml')");
      st.execute("INSERT INTO ledger_txn (txn_id, wallet_id, type, amount_cents, occurred_at, initiated_by, "
          + "source_node_id, source_commit, source_records, note, row_hash) VALUES (1, 1, 'charge', -4000, "
          + "'2026-11-21T10:00:00Z', 'aggregator', 1, 'c0ffee', 2, NULL, '" + hash + "')");
      long at = Instant.parse("2026-11-21T01:00:00Z").toEpochMilli();
      st.execute("INSERT INTO consumed_record (node_id, idempotency_key, wallet_id, cost_cents, occurred_at_ms, "
          + "txn_id, file_id) VALUES (1, 'old1', 1, 2500, " + at + ", 1, 1), (1, 'old2', 1, 1500, " + at + ", 1, 1)");
    }
    try (SqliteLedger ledger = open()) {
      assertThat(ledger.audit().verify()).isEmpty();
      assertThat(ledger.reads().spend("u1", java.time.YearMonth.of(2026, 11), java.time.LocalDate.of(2026, 11, 21)))
          .isEqualTo(new WalletSpend(java.time.YearMonth.of(2026, 11), 4_000, 0, java.time.LocalDate.of(2026, 11, 21),
              4_000, 0));
      ledger.walletStore().updateSettings("u1", new dev.meterd.policy.WalletSettings.Patch(null, 5_000L, null, null,
          null), "ops");
      consume(ledger, "A", rec("new", "u1", 3_000));
      assertThat(ledger.reads().wallet("u1").orElseThrow().balanceCents()).isEqualTo(-5_000);
      // Version 9 lists each wallet's rows in wallet_txn: the row from before the upgrade too.
      assertThat(ledger.reads().transactions("u1", 10)).extracting(LedgerTxn::txnId).containsExactly(2L, 1L);
      assertThat(ledger.audit().verify()).isEmpty();
    }
  }

  @Test
  void refusesADatabaseOfANewerSchema() throws Exception {
    open().close();
    try (Connection c = jdbc(); Statement st = c.createStatement()) {
      st.execute("INSERT INTO schema_version (version, applied_at) VALUES (99, 'later')");
    }
    assertThatThrownBy(this::open)
        .isInstanceOf(LedgerException.class)
        .hasMessageContaining("has schema version 99, newer than this meterd knows (" + Migrations.latestVersion()
            + "); run a newer meterd against it");
  }
}
