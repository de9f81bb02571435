package dev.meterd.engine;

import static dev.meterd.testing.UsageRepo.batch;
import static dev.meterd.testing.UsageRepo.record;
import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.batch.BatchParser;
import dev.meterd.ledger.Hold;
import dev.meterd.ledger.HoldOutcome;
import dev.meterd.ledger.HoldRequest;
import dev.meterd.ledger.HoldStore;
import dev.meterd.ledger.LedgerTxn;
import dev.meterd.ledger.LedgerEngine;
import dev.meterd.ledger.SqliteLedger;
import dev.meterd.ledger.TestDatabase;
import dev.meterd.ledger.TxnType;
import dev.meterd.ledger.Violation;
import dev.meterd.source.git.GitBatchSource;
import dev.meterd.testing.MutableClock;
import dev.meterd.testing.UsageRepo;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Holds settled in the node's own transaction when their record is consumed, expiring by the
 * clock, and {@code verify}'s rules on them, over real runs and a real database of each engine.
 */
@ParameterizedClass
@EnumSource(LedgerEngine.class)
class HoldSettlementIT {

  @Parameter
  LedgerEngine engine;

  @TempDir
  Path tmp;

  private UsageRepo repo;
  private GitBatchSource source;
  private TestDatabase db;
  private SqliteLedger ledger;
  private final MutableClock clock = new MutableClock(Instant.parse("2026-11-21T12:00:00Z"));

  @BeforeEach
  void setUp() throws Exception {
    repo = new UsageRepo(tmp.resolve("usage.git"));
    db = engine.freshDatabase(tmp);
    ledger = db.open(clock);
  }

  @AfterEach
  void tearDown() {
    if (source != null) {
      source.close();
    }
    ledger.close();
    repo.close();
  }

  private RunSummary run(boolean dryRun) throws Exception {
    if (source == null) {
      source = GitBatchSource.open(repo.dir().toString(), "main", tmp.resolve("clone"), Optional.empty());
    }
    return new Aggregator(source, ledger, new BatchParser(BatchParser.Limits.DEFAULT), clock, FaultInjector.NONE)
        .run(new RunRequest(dryRun, java.util.Set.of()));
  }

  private Hold hold(String user, long cents, String node, String key, Duration ttl) {
    HoldOutcome outcome = ledger.holds().place(new HoldRequest(user, cents, node, key, ttl), true, "gateway", null,
        placed -> null);
    assertThat(outcome).isInstanceOf(HoldOutcome.Placed.class);
    return ((HoldOutcome.Placed) outcome).hold();
  }

  /** The hold as stored now. */
  private Hold reread(Hold h) {
    return ledger.holds().hold(h.holdId()).orElseThrow();
  }

  private void exec(String sql) throws Exception {
    db.exec(sql);
  }

  @Test
  void aHoldIsSettledInItsRecordsTransactionAndTheChargeIsTheRecordsCostOnce() throws Exception {
    ledger.walletStore().credit("u1", TxnType.GRANT, 1_000, "ops", null);
    Hold h = hold("u1", 300, "A", "k1", Duration.ofMinutes(5));
    Hold other = hold("u1", 100, "B", "k1", Duration.ofMinutes(5));
    assertThat(ledger.holds().credit("u1").availableCents()).isEqualTo(600);

    repo.commit("nodes/A/" + UsageRepo.HOUR_10, batch(record("k1", "u1", 250), record("k2", "u1", 5)));
    RunSummary dry = run(true);
    assertThat(dry.recordsConsumed()).isEqualTo(2);
    assertThat(reread(h).state()).as("a dry run settles nothing").isEqualTo(Hold.State.ACTIVE);

    run(false);
    Hold settled = reread(h);
    assertThat(settled.state()).isEqualTo(Hold.State.SETTLED);
    assertThat(settled.endedAt()).isEqualTo(clock.instant());
    assertThat(reread(other).state()).as("the same key of another node is another record").isEqualTo(Hold.State.ACTIVE);
    // Charged the records' cost, 255, once; only node B's hold still counts.
    assertThat(ledger.holds().credit("u1").balanceCents()).isEqualTo(745);
    assertThat(ledger.holds().credit("u1").availableCents()).isEqualTo(645);
    List<LedgerTxn> txns = ledger.reads().transactions("u1", 10);
    assertThat(txns).extracting(LedgerTxn::amountCents).containsExactly(-255L, 1_000L);

    repo.commit("nodes/A/" + UsageRepo.HOUR_11, batch(record("k3", "u1", 1)));
    run(false);
    assertThat(ledger.holds().credit("u1").balanceCents()).isEqualTo(744);
    assertThat(ledger.audit().verify()).isEmpty();
  }

  @Test
  void aHoldCountsUntilItsExpiryAndNotAMillisecondAfter() {
    ledger.walletStore().credit("u1", TxnType.GRANT, 1_000, "ops", null);
    Hold h = hold("u1", 400, "A", "k1", Duration.ofSeconds(60));
    assertThat(h.expiresAt()).isEqualTo(Instant.parse("2026-11-21T12:01:00Z"));
    clock.advance(Duration.ofMillis(59_999));
    assertThat(ledger.holds().credit("u1").availableCents()).isEqualTo(600);
    clock.advance(Duration.ofMillis(1));
    assertThat(ledger.holds().credit("u1").availableCents()).isEqualTo(1_000);
    assertThat(reread(h).stateAt(clock.instant())).isEqualTo("expired");
    // The credit it held is free again for another hold, even with enforcement on.
    hold("u1", 1_000, "A", "k2", Duration.ofSeconds(60));
    assertThat(ledger.holds().credit("u1").availableCents()).isZero();
  }

  @Test
  void verifyFindsAHoldStillCountedAfterItsRecordAndASettledHoldWithoutOne() throws Exception {
    ledger.walletStore().credit("u1", TxnType.GRANT, 1_000, "ops", null);
    Hold h = hold("u1", 300, "A", "k1", Duration.ofMinutes(5));
    Hold unrecorded = hold("u1", 100, "A", "k9", Duration.ofMinutes(5));
    repo.commit("nodes/A/" + UsageRepo.HOUR_10, batch(record("k1", "u1", 250)));
    run(false);
    assertThat(ledger.audit().verify()).isEmpty();

    exec("UPDATE hold SET state = 'active', ended_at = NULL WHERE hold_id = " + h.holdId());
    exec("UPDATE hold SET state = 'settled', ended_at = '2026-11-21T12:00:00Z' WHERE hold_id = "
        + unrecorded.holdId());
    assertThat(ledger.audit().verify()).containsExactly(
        new Violation("hold_settled", "hold " + unrecorded.holdId() + " is settled, but node A has no consumed record k9 of the hold's user"),
        new Violation("hold_unsettled", "hold " + h.holdId() + " still counts, but its record k1 of node A was consumed"));
  }

  /**
   * A record settles the hold of its own user only: a record of another user under the held key is
   * charged to that user, and the hold it did not spend still counts (review finding).
   */
  @Test
  void aRecordOfAnotherUserDoesNotSettleTheHold() throws Exception {
    ledger.walletStore().credit("u1", TxnType.GRANT, 1_000, "ops", null);
    Hold h = hold("u1", 300, "A", "k1", Duration.ofMinutes(5));
    repo.commit("nodes/A/" + UsageRepo.HOUR_10, batch(record("k1", "u2", 250)));
    run(false);
    assertThat(reread(h).state()).isEqualTo(Hold.State.ACTIVE);
    assertThat(ledger.holds().credit("u1").availableCents()).isEqualTo(700);
    assertThat(ledger.reads().wallet("u2").orElseThrow().balanceCents()).isEqualTo(-250);
    assertThat(ledger.audit().verify()).isEmpty();
  }

  /** Placing a hold again under a key whose hold ended is refused: it would skip the wallet's check. */
  @Test
  void aHoldThatEndedIsNotAnsweredAgainUnderItsKey() {
    ledger.walletStore().credit("u1", TxnType.GRANT, 1_000, "ops", null);
    Hold expiring = hold("u1", 300, "A", "k1", Duration.ofMinutes(1));
    Hold released = hold("u1", 300, "A", "k2", Duration.ofMinutes(5));
    ledger.holds().release(released.holdId(), "gateway");
    clock.advance(Duration.ofMinutes(1));
    HoldOutcome again = ledger.holds().place(new HoldRequest("u1", 300, "A", "k1", Duration.ofMinutes(1)), true,
        "gateway", null, placed -> null);
    assertThat(again).isEqualTo(new HoldOutcome.Ended(reread(expiring), "expired"));
    assertThat(ledger.holds().place(new HoldRequest("u1", 300, "A", "k2", Duration.ofMinutes(1)), true, "gateway",
        null, placed -> null)).isEqualTo(new HoldOutcome.Ended(reread(released), "released"));
    assertThat(ledger.holds().credit("u1").availableCents()).isEqualTo(1_000);
  }

  /**
   * A release answers the wallet's available credit as its own transaction left it: no second read
   * after the commit, whose failure would answer an error for a hold that was released.
   */
  @Test
  void aReleaseAnswersTheAvailableCreditOfItsOwnTransaction() {
    ledger.walletStore().credit("u1", TxnType.GRANT, 1_000, "ops", null);
    Hold first = hold("u1", 300, "A", "k1", Duration.ofMinutes(5));
    hold("u1", 200, "A", "k2", Duration.ofMinutes(5));
    HoldStore.Released released = ledger.holds().release(first.holdId(), "gateway").orElseThrow();
    assertThat(released.hold()).isEqualTo(reread(first));
    assertThat(released.hold().state()).isEqualTo(Hold.State.RELEASED);
    assertThat(released.hold().releasedBy()).isEqualTo("gateway");
    assertThat(released.releasedNow()).isTrue();
    assertThat(released.availableCents()).isEqualTo(800);
    assertThat(ledger.holds().release(first.holdId(), "other").orElseThrow())
        .isEqualTo(new HoldStore.Released(reread(first), false, 800));
    assertThat(ledger.holds().release(first.holdId() + 100, "gateway")).isEmpty();
  }
}
