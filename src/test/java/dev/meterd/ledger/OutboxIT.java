package dev.meterd.ledger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meterd.batch.UsageRecord;
import dev.meterd.testing.MutableClock;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** The outbox on each engine: which writes record which events, in their own transaction. */
@ParameterizedClass
@EnumSource(LedgerEngine.class)
class OutboxIT {

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

  /** Every event's type and data, oldest first. */
  private static List<String> events(Ledger ledger) {
    List<Delivery> newestFirst = new java.util.ArrayList<>(ledger.outbox().deliveries(null, null, 100));
    java.util.Collections.reverse(newestFirst);
    return newestFirst.stream().map(d -> {
      JsonObject body = new JsonObject(d.body());
      assertThat(body.fieldNames()).containsExactly("type", "id", "created_at", "data");
      assertThat(body.getString("id")).isEqualTo(d.eventId()).matches("evt_[0-9a-f]{32}");
      assertThat(body.getString("type")).isEqualTo(d.type());
      assertThat(body.getString("created_at")).isEqualTo(d.createdAt().toString());
      return d.type() + " " + body.getJsonObject("data").encode();
    }).toList();
  }

  private static final NodeError TIMEOUT = new NodeError(NodeError.Kind.TRANSIENT, null, null, "read timed out");
  private static final NodeError RESET = new NodeError(NodeError.Kind.TRANSIENT, null, null, "connection reset");
  private static final NodeError LINE_7 = new NodeError(NodeError.Kind.CONTENT, "nodes/A/usage_2026-11-21-10.toml", 7,
      "cost_cents must be >= 0, got -5");
  private static final NodeError LINE_9 = new NodeError(NodeError.Kind.CONTENT, "nodes/A/usage_2026-11-21-10.toml", 9,
      "cost_cents must be >= 0, got -1");

  @Test
  void aHaltIsAnnouncedWhenItBeginsAndWhenItsErrorChangesNotOnEveryRetry() {
    try (SqliteLedger ledger = open()) {
      NodeStore nodes = ledger.nodeStore();
      nodes.halt("A", TIMEOUT, null);
      clock.advance(Duration.ofMinutes(5));
      nodes.halt("A", TIMEOUT, null);
      nodes.halt("A", RESET, null);
      nodes.halt("A", LINE_7, "tree1");
      nodes.halt("A", LINE_7, "tree2");
      nodes.halt("A", LINE_9, "tree3");
      assertThat(nodes.resume("A")).isPresent();
      assertThat(nodes.resume("A")).as("resuming a node that is not halted announces nothing").isPresent();
      assertThat(nodes.resume("nobody")).isEmpty();

      String since = "2026-11-21T10:05:00Z";
      assertThat(events(ledger)).containsExactly(
          "node.halted {\"node\":\"A\",\"kind\":\"transient\",\"file\":null,\"line\":null,\"error\":\"read timed out\","
              + "\"halted_since\":\"" + since + "\"}",
          "node.halted {\"node\":\"A\",\"kind\":\"content\",\"file\":\"nodes/A/usage_2026-11-21-10.toml\",\"line\":7,"
              + "\"error\":\"cost_cents must be >= 0, got -5\",\"halted_since\":\"" + since + "\"}",
          "node.halted {\"node\":\"A\",\"kind\":\"content\",\"file\":\"nodes/A/usage_2026-11-21-10.toml\",\"line\":9,"
              + "\"error\":\"cost_cents must be >= 0, got -1\",\"halted_since\":\"" + since + "\"}",
          "node.resumed {\"node\":\"A\",\"reason\":\"resume\",\"halted_since\":\"" + since + "\",\"last_error\":"
              + "{\"kind\":\"content\",\"file\":\"nodes/A/usage_2026-11-21-10.toml\",\"line\":9,"
              + "\"error\":\"cost_cents must be >= 0, got -1\"}}");
      assertThat(ledger.outbox().deliveries(null, null, 100)).allSatisfy(d -> {
        assertThat(d.status()).isEqualTo(Delivery.Status.PENDING);
        assertThat(d.attempts()).isZero();
        assertThat(d.nextAttemptAt()).isEqualTo(d.createdAt());
      });
    }
  }

  private static void consume(Ledger ledger, String node, boolean dryRun) throws Exception {
    try (NodeStore.NodeWrite w = ledger.nodeStore().beginNode(node, dryRun)) {
      w.add("nodes/" + node + "/usage_2026-11-21-10.toml", List.of(new UsageRecord("k", "u1", 5,
          Instant.parse("2026-11-21T10:00:00Z"), null, null, 1)));
      w.commit(new NodeCursor("c0ffee", "7ree", null));
    }
  }

  @Test
  void aRunThatConsumesAHaltedNodeAnnouncesItsResumeButADryRunDoesNot() throws Exception {
    try (SqliteLedger ledger = open()) {
      ledger.nodeStore().halt("A", LINE_7, "tree1");
      consume(ledger, "A", true);
      assertThat(events(ledger)).hasSize(1);
      consume(ledger, "A", false);
      consume(ledger, "B", false);
      // A's charge takes u1 below zero (wallet.depleted, once), in the transaction that resumes A.
      assertThat(events(ledger).get(1)).isEqualTo("wallet.depleted {\"user_sid\":\"u1\",\"balance_cents\":-5,"
          + "\"txn_id\":1,\"depleted_at\":\"2026-11-21T10:05:00Z\"}");
      assertThat(events(ledger)).hasSize(3).last().isEqualTo("node.resumed {\"node\":\"A\",\"reason\":\"run\","
          + "\"halted_since\":\"2026-11-21T10:05:00Z\",\"last_error\":{\"kind\":\"content\","
          + "\"file\":\"nodes/A/usage_2026-11-21-10.toml\",\"line\":7,\"error\":\"cost_cents must be >= 0, got -5\"}}");
    }
  }

  @Test
  void anEventOfAWriteThatRollsBackIsNeverRecorded() {
    try (SqliteLedger ledger = open()) {
      assertThatThrownBy(() -> ledger.write("halt and fail", () -> {
        ledger.outboxWriter().append(EventType.NODE_HALTED, new JsonObject().put("node", "A"));
        throw new SQLException("disk I/O error");
      })).isInstanceOf(LedgerException.class).hasMessageEndingWith("disk I/O error");
      assertThat(ledger.outbox().deliveries(null, null, 100)).isEmpty();
      assertThat(ledger.outbox().claimDue(10, Duration.ofMinutes(1))).isEmpty();
    }
  }

  @Test
  void anEventCannotBeWrittenOutsideAWrite() {
    try (SqliteLedger ledger = open()) {
      assertThatThrownBy(() -> ledger.outboxWriter().append(EventType.NODE_HALTED, new JsonObject()))
          .isInstanceOf(IllegalStateException.class)
          .hasMessage("an outbox event must be written inside the write that causes it");
    }
  }

  @Test
  void aClaimCountsTheAttemptAndHoldsTheEventForTheLease() {
    try (SqliteLedger ledger = open()) {
      ledger.nodeStore().halt("A", LINE_7, "tree1");
      Delivery claimed = ledger.outbox().claimDue(10, Duration.ofMinutes(2)).get(0);
      assertThat(claimed.attempts()).isEqualTo(1);
      assertThat(claimed.lastAttemptAt()).isEqualTo(clock.instant());
      assertThat(claimed.nextAttemptAt()).isEqualTo(clock.instant().plus(Duration.ofMinutes(2)));
      clock.advance(Duration.ofMinutes(2).minusMillis(1));
      assertThat(ledger.outbox().claimDue(10, Duration.ofMinutes(2))).isEmpty();
      clock.advance(Duration.ofMillis(1));
      assertThat(ledger.outbox().claimDue(10, Duration.ofMinutes(2))).extracting(Delivery::eventId, Delivery::attempts)
          .containsExactly(org.assertj.core.groups.Tuple.tuple(claimed.eventId(), 2));
    }
  }

  @Test
  void aRetryMakesAFailedEventDueNowAndLeavesADeliveredOneAlone() {
    try (SqliteLedger ledger = open()) {
      ledger.nodeStore().halt("A", LINE_7, "tree1");
      ledger.nodeStore().resume("A");
      List<Delivery> both = ledger.outbox().claimDue(10, Duration.ofMinutes(1));
      ledger.outbox().markFailed(both.get(0).eventId(), "the receiver answered HTTP 500", 500);
      ledger.outbox().markDelivered(both.get(1).eventId(), 204);
      clock.advance(Duration.ofHours(1));

      Delivery retried = ledger.outbox().retryNow(both.get(0).eventId(), "alice").orElseThrow();
      assertThat(retried.status()).isEqualTo(Delivery.Status.PENDING);
      assertThat(retried.nextAttemptAt()).isEqualTo(clock.instant());
      assertThat(retried.failedAt()).isNull();
      assertThat(retried.lastError()).isEqualTo("the receiver answered HTTP 500");
      assertThat(retried.retriedBy()).isEqualTo("alice");
      assertThat(retried.retriedAt()).isEqualTo(clock.instant());
      Delivery delivered = ledger.outbox().retryNow(both.get(1).eventId(), "alice").orElseThrow();
      assertThat(delivered.status()).isEqualTo(Delivery.Status.DELIVERED);
      assertThat(delivered.retriedBy()).isNull();
      assertThat(ledger.outbox().retryNow("evt_none", "alice")).isEmpty();
      assertThat(ledger.outbox().deliveries(Delivery.Status.DELIVERED, null, 10)).extracting(Delivery::eventId)
          .containsExactly(both.get(1).eventId());
    }
  }
}
