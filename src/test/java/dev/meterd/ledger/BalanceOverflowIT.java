package dev.meterd.ledger;

import static dev.meterd.testing.LedgerContents.consumedKeys;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meterd.batch.BatchContentException;
import dev.meterd.batch.UsageRecord;
import dev.meterd.testing.MutableClock;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A balance stays a 64-bit integer: SQLite would turn {@code balance_cents + ?} past the range
 * into a REAL (and PostgreSQL fail with its own words), so a change that would leave the range is
 * refused whole, with a sentence naming the wallet, on either engine.
 */
@ParameterizedClass
@EnumSource(LedgerEngine.class)
class BalanceOverflowIT {

  @Parameter
  LedgerEngine engine;

  @TempDir
  Path tmp;

  private final MutableClock clock = new MutableClock(Instant.parse("2026-11-21T10:05:00Z"));
  private TestDatabase db;

  @BeforeEach
  void freshDatabase() {
    db = engine.freshDatabase(tmp);
  }

  private SqliteLedger open() {
    return db.open(clock);
  }

  /**
   * Consumes one record; each node's records are of their own day (A the 21st, B the 22nd), so that
   * a wallet's spend of one day stays within 64 bits while its balance reaches the end of them.
   */
  private static void consume(SqliteLedger ledger, String node, String key, String user, long cost)
      throws BatchContentException {
    Instant at = Instant.parse("2026-11-21T10:00:00Z").plus(java.time.Duration.ofDays(node.charAt(0) - 'A'));
    try (NodeStore.NodeWrite w = ledger.nodeStore().beginNode(node, false)) {
      w.add("nodes/" + node + "/usage_2026-11-21-10.toml",
          List.of(new UsageRecord(key, user, cost, at, null, null, 1)));
      w.commit(new NodeCursor("c0ffee", "7ree", null));
    }
  }

  private static long balance(SqliteLedger ledger, String user) {
    return ledger.reads().wallet(user).orElseThrow().balanceCents();
  }

  @Test
  void aGrantThatWouldPassTheLargestBalanceIsRefusedAndChangesNothing() {
    try (SqliteLedger ledger = open()) {
      ledger.walletStore().credit("u1", TxnType.GRANT, Long.MAX_VALUE - 5, "alice", null);
      assertThatThrownBy(() -> ledger.walletStore().credit("u1", TxnType.GRANT, 10, "alice", null))
          .isInstanceOf(BalanceOutOfRangeException.class)
          .hasMessage("the balance of wallet u1 (9223372036854775802 cents) cannot take a change of 10 cents: "
              + "it would leave the 64-bit range of cents; nothing was applied");
      assertThat(balance(ledger, "u1")).isEqualTo(Long.MAX_VALUE - 5);
      assertThat(ledger.reads().transactions("u1", 10)).hasSize(1);

      ledger.walletStore().credit("u1", TxnType.GRANT, 5, "alice", "exactly to the largest balance");
      assertThat(balance(ledger, "u1")).isEqualTo(Long.MAX_VALUE);
      assertThat(ledger.reads().transactions("u1", 10)).hasSize(2);
      assertThat(ledger.audit().verify()).isEmpty();
    }
  }

  @Test
  void aChargeThatWouldPassTheSmallestBalanceRollsBackTheWholeNodeRun() throws Exception {
    try (SqliteLedger ledger = open()) {
      consume(ledger, "A", "a1", "u1", Long.MAX_VALUE);
      assertThat(balance(ledger, "u1")).isEqualTo(-Long.MAX_VALUE);

      assertThatThrownBy(() -> consume(ledger, "B", "b1", "u1", 2))
          .isInstanceOf(BalanceOutOfRangeException.class)
          .hasMessage("the balance of wallet u1 (-9223372036854775807 cents) cannot take a change of -2 cents: "
              + "it would leave the 64-bit range of cents; nothing was applied");
      assertThat(balance(ledger, "u1")).isEqualTo(-Long.MAX_VALUE);
      assertThat(ledger.reads().node("B")).isEmpty();
      assertThat(consumedKeys(ledger, "B")).isEmpty();

      consume(ledger, "B", "b1", "u1", 1);
      assertThat(balance(ledger, "u1")).isEqualTo(Long.MIN_VALUE);
      assertThat(ledger.audit().verify()).isEmpty();
    }
  }
}
