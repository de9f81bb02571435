package dev.meterd.engine;

import static dev.meterd.testing.UsageRepo.HOUR_10;
import static dev.meterd.testing.UsageRepo.batch;
import static dev.meterd.testing.UsageRepo.record;
import static dev.meterd.testing.LedgerContents.consumedKeys;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.tuple;

import dev.meterd.batch.BatchContentException;
import dev.meterd.batch.BatchParser;
import dev.meterd.batch.UsageRecord;
import dev.meterd.ledger.Ledger;
import dev.meterd.ledger.NodeApplied;
import dev.meterd.ledger.NodeCursor;
import dev.meterd.ledger.NodeError;
import dev.meterd.ledger.NodeStore;
import dev.meterd.ledger.LedgerEngine;
import dev.meterd.ledger.SqliteLedger;
import dev.meterd.ledger.TxnType;
import dev.meterd.ledger.Wallet;
import dev.meterd.source.BatchSource;
import dev.meterd.source.git.GitBatchSource;
import dev.meterd.testing.MutableClock;
import dev.meterd.testing.UsageRepo;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Sums of cents past the 64-bit range halt the node with nothing of it applied.
 *
 * <p>The wire format caps a record at 10^12 cents, so a real sum past 2^63 takes 9.2 million
 * records. The runs here go through the real parser and a real ledger of each engine, with one change
 * between them: each parsed record's cost is multiplied by 2^52 on its way into the ledger, so
 * that a file of two records costing 1024 cents sums to 2^63.
 */
@ParameterizedClass
@EnumSource(LedgerEngine.class)
class CostOverflowIT {

  private static final int SCALE_SHIFT = 52;

  @Parameter
  LedgerEngine engine;

  @TempDir
  Path tmp;

  private final MutableClock clock = new MutableClock(Instant.parse("2026-11-21T10:05:00Z"));
  private UsageRepo repo;
  private SqliteLedger ledger;
  private BatchSource source;

  @BeforeEach
  void setUp() throws Exception {
    repo = new UsageRepo(tmp.resolve("usage.git"));
    ledger = engine.freshDatabase(tmp).open(clock);
    source = GitBatchSource.open(repo.dir().toString(), "main", tmp.resolve("clone"), Optional.empty());
  }

  @AfterEach
  void tearDown() {
    source.close();
    ledger.close();
    repo.close();
  }

  private RunSummary run() throws Exception {
    clock.advance(Duration.ofMinutes(5));
    // One group for the run's nodes, however loaded the machine: no time bound.
    return new Aggregator(source, scaled(ledger), new BatchParser(BatchParser.Limits.DEFAULT), clock,
        FaultInjector.NONE, new GroupBounds(1_000, 20_000, Duration.ofHours(1), 64)).run(RunRequest.ALL);
  }

  /**
   * The ledger, with every record's cost multiplied by 2^52 as the node's run adds it: its node
   * store's node writes are wrapped (the aggregator reaches them through {@link Ledger#nodeStore}).
   */
  private static Ledger scaled(Ledger real) {
    return proxy(Ledger.class, real);
  }

  private static <T> T proxy(Class<T> type, T real) {
    return type.cast(Proxy.newProxyInstance(type.getClassLoader(), new Class<?>[] {type},
        (proxy, method, args) -> {
          try {
            Object result = method.invoke(real, args);
            if (result instanceof NodeStore store) {
              return proxy(NodeStore.class, store);
            }
            if (result instanceof NodeStore.NodeGroup group) {
              return proxy(NodeStore.NodeGroup.class, group);
            }
            return result instanceof NodeStore.NodeWrite write ? scaled(write) : result;
          } catch (InvocationTargetException e) {
            throw e.getCause();
          }
        }));
  }

  private static NodeStore.NodeWrite scaled(NodeStore.NodeWrite write) {
    return new NodeStore.NodeWrite() {
      @Override
      public void add(String path, List<UsageRecord> records) throws BatchContentException {
        List<UsageRecord> scaled = new ArrayList<>();
        for (UsageRecord r : records) {
          scaled.add(new UsageRecord(r.idempotencyKey(), r.userSid(), r.costCents() << SCALE_SHIFT, r.occurredAt(),
              r.resource(), r.quantity(), r.line()));
        }
        write.add(path, scaled);
      }

      @Override
      public long debitedCents() {
        return write.debitedCents();
      }

      @Override
      public NodeApplied commit(NodeCursor cursor, Consumer<NodeStore.CommitStage> probe) {
        return write.commit(cursor, probe);
      }

      @Override
      public void close() {
        write.close();
      }
    };
  }

  @Test
  void aNodeThatWouldTakeTheRunsTotalPastTwoToTheSixtyThreeWaitsForTheNextRun() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 1024)),
        "nodes/B/" + HOUR_10, batch(record("b1", "u2", 1024)));
    RunSummary s = run();
    assertThat(s.halted()).containsExactly(new NodeOutcome.Halted("B", new NodeError(NodeError.Kind.TRANSIENT, null,
        null, "the debits of this run would pass 9223372036854775807 cents in all; the node is retried by the "
            + "next run")));
    assertThat(s.debitedCents()).isEqualTo(1L << 62);
    assertThat(consumedKeys(ledger, "B")).isEmpty();

    RunSummary next = run();
    assertThat(next.halted()).isEmpty();
    assertThat(next.debitedCents()).isEqualTo(1L << 62);
    assertThat(consumedKeys(ledger, "B")).containsExactly("b1");
    assertThat(ledger.audit().verify()).isEmpty();
  }

  @Test
  void costsWhoseSumPassesTwoToTheSixtyThreeHaltTheNodeWithNothingApplied() throws Exception {
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 1024), record("a2", "u2", 1024)),
        "nodes/B/" + HOUR_10, batch(record("b1", "u3", 1)));
    RunSummary s = run();
    assertThat(s.halted()).containsExactly(new NodeOutcome.Halted("A", new NodeError(NodeError.Kind.CONTENT, null,
        null, "the costs of this run overflow a 64-bit sum of cents")));
    assertThat(s.nodesConsumed()).isEqualTo(1);
    assertThat(s.debitedCents()).isEqualTo(1L << SCALE_SHIFT);
    assertThat(consumedKeys(ledger, "A")).isEmpty();
    assertThat(consumedKeys(ledger, "B")).containsExactly("b1");
    assertThat(ledger.reads().wallets()).extracting(Wallet::userSid, Wallet::balanceCents)
        .containsExactly(tuple("u3", -(1L << SCALE_SHIFT)));
    assertThat(ledger.reads().node("A").orElseThrow().lastCommitSha()).isNull();
    assertThat(ledger.audit().verify()).isEmpty();
  }

  @Test
  void aChargeThatWouldPassTheSmallestBalanceHaltsTheNodeUntilTheWalletCanTakeIt() throws Exception {
    long nearlyHalf = 2047L << SCALE_SHIFT;
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 2047)));
    assertThat(run().halted()).isEmpty();
    // On another day: one day's spend of a wallet is itself limited to 2^63 - 1 cents (below).
    repo.commit("nodes/B/" + HOUR_10, batch(record("b1", "u1", 2047, "2026-11-22T00:00:00Z")), "nodes/C/" + HOUR_10,
        batch(record("c1", "u2", 1)));
    RunSummary s = run();
    assertThat(s.halted()).containsExactly(new NodeOutcome.Halted("B", new NodeError(NodeError.Kind.TRANSIENT, null,
        null, "the balance of wallet u1 (-9218868437227405312 cents) cannot take a change of -9218868437227405312 "
            + "cents: it would leave the 64-bit range of cents; nothing was applied")));
    assertThat(consumedKeys(ledger, "B")).isEmpty();
    assertThat(consumedKeys(ledger, "C")).containsExactly("c1");
    assertThat(ledger.reads().wallet("u1").orElseThrow().balanceCents()).isEqualTo(-nearlyHalf);

    ledger.walletStore().credit("u1", TxnType.GRANT, nearlyHalf, "alice", "room for node B's charge");
    RunSummary retried = run();
    assertThat(retried.halted()).isEmpty();
    assertThat(retried.recordsConsumed()).isEqualTo(1);
    assertThat(consumedKeys(ledger, "B")).containsExactly("b1");
    assertThat(ledger.reads().wallet("u1").orElseThrow().balanceCents()).isEqualTo(-nearlyHalf);
    assertThat(ledger.audit().verify()).isEmpty();
  }

  /**
   * A node rolled back to its savepoint after it moved a balance: the next node of the group reads
   * that balance as the group left it, not as the rolled-back node did (the group's remembered rows
   * are dropped with the savepoint).
   */
  @Test
  void aNodeRolledBackInAGroupLeavesNoBalanceBehindForTheNextNode() throws Exception {
    long nearlyHalf = 2047L << SCALE_SHIFT;
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 2047)));
    assertThat(run().halted()).isEmpty();
    // B moves u3's balance, then u1's overflows: B rolls back; C, in the same group, charges u3 again.
    repo.commit("nodes/B/" + HOUR_10, batch(record("b0", "u3", 1), record("b1", "u1", 2, "2026-11-22T00:00:00Z")),
        "nodes/C/" + HOUR_10, batch(record("c1", "u3", 1)));
    RunSummary s = run();
    assertThat(s.halted()).extracting(NodeOutcome.Halted::node).containsExactly("B");
    assertThat(consumedKeys(ledger, "C")).containsExactly("c1");
    assertThat(ledger.reads().wallet("u3").orElseThrow().balanceCents()).isEqualTo(-(1L << SCALE_SHIFT));
    assertThat(ledger.reads().wallet("u1").orElseThrow().balanceCents()).isEqualTo(-nearlyHalf);
    assertThat(ledger.audit().verify()).isEmpty();
  }

  @Test
  void aChargeThatWouldPassAWalletsSpendOfOneDayHaltsTheNodeAndAppliesNothing() throws Exception {
    long nearlyHalf = 2047L << SCALE_SHIFT;
    repo.commit("nodes/A/" + HOUR_10, batch(record("a1", "u1", 2047)));
    assertThat(run().halted()).isEmpty();
    ledger.walletStore().credit("u1", TxnType.GRANT, nearlyHalf, "alice", "room for node B's charge");
    repo.commit("nodes/B/" + HOUR_10, batch(record("b1", "u1", 2047)));
    RunSummary s = run();
    assertThat(s.halted()).containsExactly(new NodeOutcome.Halted("B", new NodeError(NodeError.Kind.TRANSIENT, null,
        null, "the spend of wallet u1 on 2026-11-21 (9218868437227405312 cents) cannot take 9218868437227405312 "
            + "cents more: it would leave the 64-bit range of cents; nothing was applied")));
    assertThat(consumedKeys(ledger, "B")).isEmpty();
    assertThat(ledger.reads().wallet("u1").orElseThrow().balanceCents()).isZero();
    assertThat(ledger.audit().verify()).isEmpty();
  }
}
