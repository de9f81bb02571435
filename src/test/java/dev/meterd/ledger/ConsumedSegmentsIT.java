package dev.meterd.ledger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meterd.batch.BatchContentException;
import dev.meterd.batch.UsageRecord;
import dev.meterd.testing.MutableClock;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The consumed-record index in levels ({@link ConsumedSegments}), on SQLite with a newest level
 * sealed at two records and two segments of a tier merged: its shape after each group, a record
 * consumed once whichever level holds it, another process's seals and merges, a failed seal or
 * merge that leaves the index as it was, and what {@code verify} finds in a damaged one.
 */
class ConsumedSegmentsIT {

  @TempDir
  Path tmp;

  private final MutableClock clock = new MutableClock(Instant.parse("2026-11-21T10:05:00Z"));
  private TestDatabase.SqliteFile db;

  @BeforeEach
  void database() {
    db = new TestDatabase.SqliteFile(tmp.resolve("meterd.db"), new int[] {2, 2, 100});
  }

  private static UsageRecord rec(String key, long cost) {
    return new UsageRecord(key, "u1", cost, Instant.parse("2026-11-21T10:00:00Z"), null, null, 1);
  }

  private static List<UsageRecord> keys(int from, int to) {
    List<UsageRecord> records = new ArrayList<>();
    for (int i = from; i <= to; i++) {
      records.add(rec(String.format("k%02d", i), i));
    }
    return records;
  }

  /** One node's run, alone in its group: the group's commit seals and merges as it must. */
  private static NodeApplied consume(SqliteLedger ledger, String node, List<UsageRecord> records)
      throws BatchContentException {
    try (NodeStore.NodeWrite w = ledger.nodeStore().beginNode(node, false)) {
      w.add("nodes/" + node + "/usage_2026-11-21-10.toml", records);
      return w.commit(new NodeCursor("c0ffee", "7ree", null));
    }
  }

  /** Each record in a group of its own, one after the other. */
  private static void consumeOneByOne(SqliteLedger ledger, String node, List<UsageRecord> records) throws Exception {
    for (UsageRecord r : records) {
      assertThat(consume(ledger, node, List.of(r)).recordsConsumed()).isEqualTo(1);
    }
  }

  private List<String> shape() throws Exception {
    return db.column("SELECT tier || ' ' || rows FROM consumed_segment ORDER BY segment_id");
  }

  /** The segments read: not one a merge is still writing. */
  private List<String> liveShape() throws Exception {
    return db.column("SELECT tier || ' ' || rows FROM consumed_segment WHERE segment_id NOT IN "
        + "(SELECT segment_id FROM consumed_merge) ORDER BY segment_id");
  }

  private long balance(SqliteLedger ledger) {
    return ledger.reads().wallet("u1").orElseThrow().balanceCents();
  }

  @Test
  void eachGroupSealsAFullNewestLevelAndMergesFullTiers() throws Exception {
    try (SqliteLedger ledger = db.open(clock)) {
      consume(ledger, "A", keys(1, 1));
      assertThat(shape()).isEmpty();
      consume(ledger, "A", keys(2, 2));
      assertThat(shape()).containsExactly("0 2");
      consume(ledger, "A", keys(3, 4));
      // Two segments of tier 0 merge into one of four records, tier 1 (four is 2 x 2).
      assertThat(shape()).containsExactly("1 4");
      consumeOneByOne(ledger, "A", keys(5, 13));
      assertThat(shape()).containsExactly("2 8", "1 4");
      assertThat(db.number("SELECT count(*) FROM consumed_newest")).isEqualTo(1);
      assertThat(db.number("SELECT count(*) FROM consumed_record")).isEqualTo(13);
      assertThat(db.number("SELECT sum(cost_cents) FROM consumed_record")).isEqualTo(91);
      assertThat(balance(ledger)).isEqualTo(-91);
      assertThat(ledger.audit().verify()).isEmpty();
    }
  }

  @Test
  void aRecordIsConsumedOnceWhicheverLevelHoldsIt() throws Exception {
    try (SqliteLedger ledger = db.open(clock)) {
      consumeOneByOne(ledger, "A", keys(1, 13));
      assertThat(shape()).containsExactly("2 8", "1 4");
      // k01 to k08 in the tier-2 segment, k09 to k12 in the tier-1 one, k13 in the newest level.
      List<UsageRecord> again = keys(1, 14);
      NodeApplied applied = consume(ledger, "A", again);
      assertThat(applied.recordsConsumed()).isEqualTo(1);
      assertThat(applied.recordsDuplicate()).isEqualTo(13);
      assertThat(balance(ledger)).isEqualTo(-105);
      // The same key with another cost is refused, wherever its record is.
      for (String key : List.of("k03", "k10", "k13")) {
        assertThatThrownBy(() -> consume(ledger, "A", List.of(rec(key, 999))))
            .isInstanceOf(BatchContentException.class)
            .hasMessageContaining("idempotency_key \"" + key + "\"");
      }
      // Another node's keys are its own.
      assertThat(consume(ledger, "B", keys(1, 3)).recordsConsumed()).isEqualTo(3);
      assertThat(db.number("SELECT count(*) FROM consumed_record")).isEqualTo(17);
      assertThat(balance(ledger)).isEqualTo(-111);
      assertThat(ledger.audit().verify()).isEmpty();
    }
  }

  /**
   * A second process (another ledger on the file) seals and merges the segments the first has
   * read: the first's next group reads the index as it is now, not as it last saw it.
   */
  @Test
  void anotherProcesssSealsAndMergesAreSeenByTheNextGroup() throws Exception {
    try (SqliteLedger first = db.open(clock); SqliteLedger second = db.open(clock)) {
      consumeOneByOne(first, "A", keys(1, 2));
      assertThat(shape()).containsExactly("0 2");
      consume(first, "A", keys(3, 3));
      consumeOneByOne(second, "A", keys(4, 6));
      assertThat(shape()).containsExactly("1 4", "0 2");
      assertThat(consume(first, "A", keys(1, 7)).recordsDuplicate()).isEqualTo(6);
      assertThat(db.number("SELECT count(*) FROM consumed_record")).isEqualTo(7);
      assertThat(first.audit().verify()).isEmpty();
    }
  }

  /**
   * A ledger makes the newest level's filter as it writes, and seals with it; but once another
   * process has written into the level, the seal reads the level's keys instead, so the segment's
   * filter misses none of them.
   */
  @Test
  void aSealAfterAnotherProcessWroteReadsTheLevelForItsFilter() throws Exception {
    // No merges here: a merge makes its segment's filter from the rows it writes.
    try (SqliteLedger first = db.open(clock).consumedIndexBounds(2, 8, 100);
        SqliteLedger second = db.open(clock).consumedIndexBounds(2, 8, 100)) {
      consumeOneByOne(first, "A", keys(1, 2));
      assertThat(shape()).containsExactly("0 2");
      consume(second, "A", keys(3, 3));
      consume(first, "A", keys(4, 4));
      assertThat(shape()).containsExactly("0 2", "0 2");
      assertThat(db.number("SELECT count(*) FROM consumed_segment_2 WHERE idempotency_key = 'k03'")).isEqualTo(1);
      NodeApplied again = consume(first, "A", keys(1, 4));
      assertThat(again.recordsDuplicate()).isEqualTo(4);
      assertThat(again.recordsConsumed()).isZero();
      assertThat(balance(first)).isEqualTo(-10);
      assertThat(first.audit().verify()).isEmpty();
    }
  }

  /** Segments are sealed and merged after the group's COMMIT: one that fails leaves the records consumed. */
  @Test
  void aSealThatFailsLeavesTheGroupCommittedAndIsDoneAfterTheNextGroup() throws Exception {
    try (SqliteLedger ledger = db.open(clock)) {
      db.exec("CREATE TRIGGER no_seal BEFORE INSERT ON consumed_segment BEGIN SELECT RAISE(ABORT, 'disk says no'); END");
      assertThat(consume(ledger, "A", keys(1, 3)).recordsConsumed()).isEqualTo(3);
      assertThat(shape()).isEmpty();
      assertThat(db.number("SELECT count(*) FROM consumed_newest")).isEqualTo(3);
      assertThat(consume(ledger, "A", keys(1, 3)).recordsDuplicate()).isEqualTo(3);
      db.exec("DROP TRIGGER no_seal");
      consume(ledger, "A", keys(4, 4));
      assertThat(shape()).containsExactly("1 4");
      assertThat(balance(ledger)).isEqualTo(-10);
      assertThat(ledger.audit().verify()).isEmpty();
    }
  }

  /**
   * A merge is written a chunk per transaction, and a chunk's worth of records per group (three
   * here): its inputs are read until the transaction that writes its last records lists it; one
   * whose listing failed is taken up by the next group, of this process or of another, which then
   * makes the segment's filter from its keys.
   */
  @Test
  void aMergeIsWrittenOverSeveralGroupsAndTakenUpWhereItStopped() throws Exception {
    try (SqliteLedger ledger = db.open(clock).consumedIndexBounds(2, 2, 3);
        SqliteLedger other = db.open(clock).consumedIndexBounds(2, 2, 3)) {
      consumeOneByOne(ledger, "A", keys(1, 4));
      // Segments 1 and 2 merge into 3: the group of k04 wrote three of its four records.
      assertThat(shape()).containsExactly("0 2", "0 2", "1 4");
      assertThat(liveShape()).containsExactly("0 2", "0 2");
      assertThat(db.column("SELECT segment_id || ' ' || inputs || ' ' || rows_done FROM consumed_merge"))
          .containsExactly("3 1,2 3");
      assertThat(db.number("SELECT count(*) FROM consumed_segment_3")).isEqualTo(3);
      assertThat(db.number("SELECT count(*) FROM consumed_record")).isEqualTo(4);
      assertThat(ledger.audit().verify()).isEmpty();

      db.exec("CREATE TRIGGER no_listing BEFORE UPDATE ON consumed_segment BEGIN SELECT RAISE(ABORT, 'disk says no'); END");
      assertThat(consume(ledger, "A", keys(1, 4)).recordsDuplicate()).isEqualTo(4);
      // The last record and the listing are one transaction: it failed whole.
      assertThat(db.column("SELECT rows_done FROM consumed_merge")).containsExactly("3");
      assertThat(liveShape()).containsExactly("0 2", "0 2");
      assertThat(db.number("SELECT count(*) FROM consumed_record")).isEqualTo(4);

      db.exec("DROP TRIGGER no_listing");
      consume(other, "A", keys(5, 5));
      assertThat(shape()).containsExactly("1 4");
      assertThat(db.number("SELECT count(*) FROM consumed_merge")).isZero();
      assertThat(db.column("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'consumed_segment_%' "
          + "ORDER BY name")).containsExactly("consumed_segment_3");
      assertThat(consume(ledger, "A", keys(1, 5)).recordsDuplicate()).isEqualTo(5);
      assertThat(consume(other, "A", keys(1, 5)).recordsDuplicate()).isEqualTo(5);
      assertThat(other.audit().verify()).isEmpty();
    }
  }

  /**
   * A ledger from before the index had levels holds every record in consumed_newest: the first
   * group after the upgrade seals it whole, into the tier its size calls for, and its records
   * stay consumed.
   */
  @Test
  void anIndexOfOneLevelFromBeforeIsSealedWholeByTheFirstGroup() throws Exception {
    Path file = tmp.resolve("old.db");
    TestDatabase.SqliteFile old = new TestDatabase.SqliteFile(file);
    // Bounds no run reaches, whatever -Dmeterd.consumed_index the test JVM has: one level, as before.
    try (SqliteLedger ledger = old.open(clock).consumedIndexBounds(1_000_000, 8, 100)) {
      consume(ledger, "A", keys(1, 9));
    }
    assertThat(old.number("SELECT count(*) FROM consumed_segment")).isZero();
    try (SqliteLedger ledger = SqliteLedger.open(file, clock).consumedIndexBounds(2, 2, 100)) {
      assertThat(consume(ledger, "A", keys(5, 10)).recordsConsumed()).isEqualTo(1);
      // Ten records: 8 <= 10 < 16, tier 2.
      assertThat(old.column("SELECT tier || ' ' || rows FROM consumed_segment")).containsExactly("2 10");
      assertThat(consume(ledger, "A", keys(1, 10)).recordsDuplicate()).isEqualTo(10);
      assertThat(ledger.audit().verify()).isEmpty();
    }
  }

  @Test
  void everyLevelIsAppendOnlyAndTheViewOfThemReadOnly() throws Exception {
    try (SqliteLedger ledger = db.open(clock)) {
      consumeOneByOne(ledger, "A", keys(1, 3));
    }
    assertThat(shape()).containsExactly("0 2");
    try (Connection c = db.jdbc(); Statement st = c.createStatement()) {
      assertThatThrownBy(() -> st.execute("UPDATE consumed_segment_1 SET cost_cents = 0"))
          .hasMessageContaining("consumed_record is append-only");
      assertThatThrownBy(() -> st.execute("DELETE FROM consumed_segment_1"))
          .hasMessageContaining("consumed_record is append-only");
      assertThatThrownBy(() -> st.execute("DELETE FROM consumed_newest"))
          .hasMessageContaining("consumed_record is append-only");
      // consumed_record is every level, read only: a meterd of an earlier version left running
      // through the upgrade, which inserts into it, fails its group rather than consume again a
      // record that a segment holds.
      assertThatThrownBy(() -> st.execute("INSERT INTO consumed_record (node_id, idempotency_key, wallet_id, "
          + "cost_cents, occurred_at_ms, txn_id, file_id) VALUES (1, 'k01', 1, 1, 0, 1, 1)"))
          .hasMessageContaining("cannot modify consumed_record because it is a view");
    }
    assertThat(db.number("SELECT count(*) FROM consumed_record")).isEqualTo(3);
  }

  @Test
  void verifyFindsARecordHeldInTwoLevels() throws Exception {
    try (SqliteLedger ledger = db.open(clock)) {
      consumeOneByOne(ledger, "A", keys(1, 2));
      db.exec("INSERT INTO consumed_newest SELECT * FROM consumed_segment_1 WHERE idempotency_key = 'k02'");
      assertThat(ledger.audit().verify()).contains(
          new Violation("record_once", "record k02 of node A is held more than once in the consumed-record index"),
          new Violation("node_total", "node A counts 2 consumed records, but the index holds 3"));
    }
  }

  @Test
  void verifyFindsAFilterThatMissesItsKeys() throws Exception {
    try (SqliteLedger ledger = db.open(clock)) {
      consumeOneByOne(ledger, "A", keys(1, 2));
      db.exec("UPDATE consumed_segment SET filter = zeroblob(length(filter)) WHERE segment_id = 1");
      assertThat(ledger.audit().verify()).containsExactly(new Violation("segment_filter",
          "the filter of segment 1 of the consumed-record index misses 2 of its keys: those records could be "
              + "consumed again"));
    }
  }

  @Test
  void verifyFindsASegmentTheViewDoesNotRead() throws Exception {
    try (SqliteLedger ledger = db.open(clock)) {
      consumeOneByOne(ledger, "A", keys(1, 3));
      db.exec("DROP VIEW consumed_record");
      db.exec("CREATE VIEW consumed_record AS SELECT * FROM consumed_newest");
      assertThat(ledger.audit().verify()).contains(new Violation("consumed_levels",
          "consumed_record reads 1 records, but the newest level holds 1 and the segments 2"));
    }
  }
}
