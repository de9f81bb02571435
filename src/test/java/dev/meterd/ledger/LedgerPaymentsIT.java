package dev.meterd.ledger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meterd.testing.MutableClock;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.BiFunction;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** Payments in the store, on each engine: once per payment id across connections, and verified. */
@ParameterizedClass
@EnumSource(LedgerEngine.class)
class LedgerPaymentsIT {

  @Parameter
  LedgerEngine engine;

  @TempDir
  Path tmp;

  private TestDatabase db;

  @BeforeEach
  void freshDatabase() {
    db = engine.freshDatabase(tmp);
  }

  private final MutableClock clock = new MutableClock(Instant.parse("2026-11-30T10:00:00Z"));

  private static PaymentStore.Payment topUp(String id, String user, long cents) {
    return new PaymentStore.Payment(id, user, TxnType.TOPUP, cents, "alice", null);
  }

  private SqliteLedger open() {
    return db.open(clock);
  }

  private Connection jdbc() throws SQLException {
    return db.jdbc();
  }

  private long count(String table) throws SQLException {
    return db.number("SELECT count(*) FROM " + table);
  }

  /**
   * Makes twenty calls at once, alternately on two connections to one database; answers their results
   * in order. {@code call} is given the connection and the call's number.
   */
  private static <T> List<T> twentyAtOnce(SqliteLedger one, SqliteLedger other,
      BiFunction<SqliteLedger, Integer, T> call) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(20);
    try {
      CountDownLatch start = new CountDownLatch(1);
      List<Future<T>> calls = new ArrayList<>();
      for (int i = 0; i < 20; i++) {
        SqliteLedger ledger = i % 2 == 0 ? one : other;
        int n = i;
        calls.add(pool.submit(() -> {
          start.await();
          return call.apply(ledger, n);
        }));
      }
      start.countDown();
      List<T> results = new ArrayList<>();
      for (Future<T> f : calls) {
        results.add(f.get(60, TimeUnit.SECONDS));
      }
      return results;
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void twoConnectionsRecordingOnePaymentTwentyTimesCreditItOnce() throws Exception {
    try (SqliteLedger one = open(); SqliteLedger other = open()) {
      List<PaymentStore.Outcome> outcomes = twentyAtOnce(one, other,
          (ledger, n) -> ledger.payments().record(topUp("pi_1", "u1", 500)));
      assertThat(outcomes.stream().filter(o -> o instanceof PaymentStore.Outcome.Credited)).hasSize(1);
      Set<LedgerTxn> txns = new HashSet<>();
      outcomes.forEach(o -> txns.add(o.txn()));
      assertThat(txns).containsExactly(new LedgerTxn(1, "u1", TxnType.TOPUP, 500, clock.instant(), "alice", null, null,
          null, null, "pi_1"));
      assertThat(one.reads().wallet("u1").orElseThrow().balanceCents()).isEqualTo(500);
      assertThat(one.audit().verify()).isEmpty();
    }
    assertThat(count("ledger_txn")).isEqualTo(1);
    assertThat(count("payment")).isEqualTo(1);
  }

  @Test
  void aPaymentWhoseCreditFailsKeepsNoPaymentRow() throws Exception {
    try (SqliteLedger ledger = open()) {
      ledger.walletStore().credit("u1", TxnType.GRANT, Long.MAX_VALUE - 5, "setup", null);
      assertThatThrownBy(() -> ledger.payments().record(topUp("pi_1", "u1", 10)))
          .isInstanceOf(BalanceOutOfRangeException.class);
      assertThat(count("payment")).isZero();
      // The id is free: the payment is recorded once the wallet can take it.
      assertThat(ledger.payments().record(topUp("pi_1", "u2", 10))).isInstanceOf(PaymentStore.Outcome.Credited.class);
    }
  }

  @Test
  void paymentsAreAppendOnly() throws Exception {
    try (SqliteLedger ledger = open()) {
      ledger.payments().record(topUp("pi_1", "u1", 500));
    }
    try (Connection c = jdbc(); Statement st = c.createStatement()) {
      assertThatThrownBy(() -> st.execute("UPDATE payment SET amount_cents = 1"))
          .hasMessageContaining("payment is append-only: a payment maps to its transaction for good");
      assertThatThrownBy(() -> st.execute("DELETE FROM payment"))
          .hasMessageContaining("payment is append-only: a payment maps to its transaction for good");
    }
  }

  @Test
  void verifyFindsEveryPaymentThatNoLongerMapsToItsTransaction() throws Exception {
    try (SqliteLedger ledger = open()) {
      ledger.payments().record(topUp("pi_1", "u1", 500));
      ledger.payments().record(new PaymentStore.Payment("re_1", "u2", TxnType.REFUND, 30, "alice", "refund"));
      ledger.walletStore().credit("u1", TxnType.GRANT, 100, "alice", null);
      ledger.payments().record(topUp("pi_2", "u2", 7));
      assertThat(ledger.audit().verify()).isEmpty();
    }
    try (Connection c = jdbc(); Statement st = c.createStatement()) {
      // What a bug or a hand at the database could do once the trigger is out of the way.
      db.allowTampering(st, "payment_no_update");
      st.execute("UPDATE payment SET amount_cents = 999 WHERE payment_id = 'pi_1'");
      st.execute("UPDATE payment SET txn_id = 3 WHERE payment_id = 're_1'");
      st.execute("UPDATE payment SET txn_id = 99 WHERE payment_id = 'pi_2'");
    }
    try (SqliteLedger ledger = open()) {
      assertThat(ledger.audit().verify()).containsExactly(
          new Violation("payment_txn", "payment pi_1 (a topup of 999 cents to wallet u1) points at transaction 1, "
              + "which is a topup of 500 cents to wallet u1"),
          new Violation("payment_txn", "payment pi_2 (a topup of 7 cents to wallet u2) points at transaction 99, "
              + "which does not exist"),
          new Violation("payment_txn", "payment re_1 (a refund of 30 cents to wallet u2) points at transaction 3, "
              + "which is a grant of 100 cents to wallet u1"));
    }
  }

  /**
   * A payment meterd cannot credit (another currency) is kept once per event id, whichever
   * connection receives it and however often: never a credit, never a second row.
   */
  @Test
  void anUnappliedPaymentIsKeptOncePerEventIdAcrossConnectionsAndCreditsNothing() throws Exception {
    String reason = "currency EUR is not the ledger's currency USD";
    try (SqliteLedger one = open(); SqliteLedger other = open()) {
      one.walletStore().credit("u1", TxnType.GRANT, 100, "alice", null);
      // A redelivery is received later; what is kept is the first.
      List<UnappliedPayments.Outcome> outcomes = twentyAtOnce(one, other, (ledger, n) -> ledger.unappliedPayments()
          .keep(new UnappliedPayment("evt_1", "pi_1", "u1", 1_999, "EUR", reason, clock.instant().plusSeconds(n))));
      assertThat(outcomes.stream().filter(o -> o instanceof UnappliedPayments.Outcome.Kept)).hasSize(1);
      Set<UnappliedPayment> answered = new HashSet<>();
      outcomes.forEach(o -> answered.add(o.payment()));
      assertThat(answered).hasSize(1);
      UnappliedPayment first = answered.iterator().next();
      assertThat(first).isEqualTo(new UnappliedPayment("evt_1", "pi_1", "u1", 1_999, "EUR", reason,
          first.receivedAt()));

      UnappliedPayment isk = new UnappliedPayment("evt_2", null, "u2", 10_000, "ISK", "another reason",
          clock.instant().plusSeconds(60));
      assertThat(other.unappliedPayments().keep(isk)).isEqualTo(new UnappliedPayments.Outcome.Kept(isk));
      assertThat(one.unappliedPayments().newestFirst(10)).containsExactly(isk, first);
      assertThat(one.unappliedPayments().newestFirst(1)).containsExactly(isk);
      assertThat(one.unappliedPayments().count()).isEqualTo(2);
      assertThat(one.reads().wallet("u1").orElseThrow().balanceCents()).isEqualTo(100);
      assertThat(one.reads().wallet("u2")).isEmpty();
      assertThat(one.audit().verify()).isEmpty();
    }
    assertThat(count("ledger_txn")).isEqualTo(1);
    assertThat(count("payment")).isZero();
    assertThat(count("unapplied_payment")).isEqualTo(2);
    try (Connection c = jdbc(); Statement st = c.createStatement()) {
      assertThatThrownBy(() -> st.execute("UPDATE unapplied_payment SET amount = 1"))
          .hasMessageContaining("unapplied_payment is append-only: it is the record of money received");
      assertThatThrownBy(() -> st.execute("DELETE FROM unapplied_payment"))
          .hasMessageContaining("unapplied_payment is append-only: it is the record of money received");
    }
  }
}
