package dev.meterd.admin;

import dev.meterd.engine.NodeOutcome;
import dev.meterd.engine.RunSummary;
import dev.meterd.ledger.BudgetAlert;
import dev.meterd.ledger.Delivery;
import dev.meterd.ledger.Hold;
import dev.meterd.ledger.LedgerReads;
import dev.meterd.ledger.LedgerTxn;
import dev.meterd.ledger.NodeError;
import dev.meterd.ledger.NodeLeases;
import dev.meterd.ledger.NodeState;
import dev.meterd.ledger.UnappliedPayment;
import dev.meterd.ledger.Violation;
import dev.meterd.ledger.Wallet;
import dev.meterd.ledger.WalletSpend;
import dev.meterd.policy.DailyCap;
import dev.meterd.policy.WalletSettings;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.time.Instant;
import java.time.LocalDate;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.util.Collection;
import java.util.List;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The JSON shapes of the interface spec, shared by the command line and the HTTP API so that
 * both say exactly the same thing.
 */
public final class JsonViews {

  private JsonViews() {}

  public static JsonObject summary(RunSummary s) {
    JsonArray halted = new JsonArray();
    for (NodeOutcome.Halted h : s.halted()) {
      halted.add(new JsonObject()
          .put("node", h.node())
          .put("file", h.error().file())
          .put("line", h.error().line())
          .put("error", h.error().message()));
    }
    return new JsonObject()
        .put("run_id", s.runId())
        .put("dry_run", s.dryRun())
        .put("started_at", time(s.startedAt()))
        .put("duration_ms", s.durationMs())
        .put("head_sha", s.headSha())
        .put("nodes_total", s.nodesTotal())
        .put("nodes_skipped", s.nodesSkipped())
        .put("nodes_consumed", s.nodesConsumed())
        .put("nodes_halted", s.halted().size())
        .put("records_consumed", s.recordsConsumed())
        .put("records_duplicate", s.recordsDuplicate())
        .put("debited_cents", s.debitedCents())
        .put("ignored", s.ignored())
        .put("halted", halted);
  }

  public static JsonObject nodes(Collection<NodeState> states) {
    JsonArray nodes = new JsonArray();
    states.forEach(s -> nodes.add(node(s)));
    return new JsonObject().put("nodes", nodes);
  }

  /**
   * As {@link #nodes(Collection)}, with the daemon holding each node's lease ({@code held_by}, null
   * when none does) and this daemon's name ({@code daemon}), when several daemons share the store.
   */
  public static JsonObject nodes(Collection<NodeState> states, NodeLeases leases) {
    if (!leases.shared()) {
      return nodes(states);
    }
    Map<String, String> holders = new HashMap<>();
    for (NodeLeases.Lease lease : leases.leases()) {
      if (lease.live()) {
        holders.put(lease.node(), lease.holder());
      }
    }
    JsonArray nodes = new JsonArray();
    states.forEach(s -> nodes.add(node(s).put("held_by", holders.get(s.node()))));
    return new JsonObject().put("daemon", leases.holder()).put("nodes", nodes);
  }

  public static JsonObject node(NodeState s) {
    return new JsonObject()
        .put("node", s.node())
        .put("status", s.status().name().toLowerCase(Locale.ROOT))
        .put("last_commit_sha", s.lastCommitSha())
        .put("last_run_at", time(s.lastRunAt()))
        .put("records_consumed_total", s.recordsConsumedTotal())
        .put("last_error", error(s.error()))
        .put("halted_since", time(s.haltedSince()))
        .put("warning", s.warning());
  }

  private static JsonObject error(NodeError e) {
    if (e == null) {
      return null;
    }
    return new JsonObject()
        .put("kind", e.kind().name().toLowerCase(Locale.ROOT))
        .put("file", e.file())
        .put("line", e.line())
        .put("error", e.message());
  }

  public static JsonObject wallets(Collection<Wallet> wallets) {
    JsonArray array = new JsonArray();
    wallets.forEach(w -> array.add(wallet(w)));
    return new JsonObject().put("wallets", array);
  }

  public static JsonObject wallet(Wallet w) {
    WalletSettings s = w.settings();
    return new JsonObject()
        .put("user_sid", w.userSid())
        .put("balance_cents", w.balanceCents())
        .put("depleted", w.depleted())
        .put("created_at", time(w.createdAt()))
        .put("updated_at", time(w.updatedAt()))
        .put(SettingsRequest.MONTHLY_BUDGET, s.monthlyBudgetCents())
        .put(SettingsRequest.DAILY_CAP, s.dailyCapCents())
        .put(SettingsRequest.AUTO_TOPUP_THRESHOLD, s.autoTopupThresholdCents())
        .put(SettingsRequest.AUTO_TOPUP_AMOUNT, s.autoTopupAmountCents())
        .put(SettingsRequest.ENABLED, s.enabled());
  }

  /** A wallet as shown alone, at {@code now}: its spend this UTC month and day, and its newest transactions. */
  public static JsonObject walletShown(LedgerReads reads, Wallet w, int limit, Instant now) {
    LocalDate today = LocalDate.ofInstant(now, ZoneOffset.UTC);
    return wallet(w, reads.spend(w.userSid(), YearMonth.from(today), today), reads.transactions(w.userSid(), limit));
  }

  /** One wallet as {@code wallet show} and {@code GET /admin/wallets/{user}} give it: with its spend and transactions. */
  public static JsonObject wallet(Wallet w, WalletSpend spend, List<LedgerTxn> transactions) {
    JsonArray array = new JsonArray();
    transactions.forEach(t -> array.add(transaction(t)));
    return wallet(w).put("spend", spend(w, spend)).put("transactions", array);
  }

  /**
   * The wallet's usage this cycle and today: charged, and waived by its daily cap, against its
   * budget and cap.
   */
  static JsonObject spend(Wallet w, WalletSpend spend) {
    return new JsonObject()
        .put("cycle", spend.cycle().toString())
        .put("charged_cents", spend.cycleChargedCents())
        .put("waived_cents", spend.cycleWaivedCents())
        .put("budget_cents", w.settings().monthlyBudgetCents())
        .put("day", spend.day().toString())
        .put("day_charged_cents", spend.dayChargedCents())
        .put("day_waived_cents", spend.dayWaivedCents())
        .put("daily_remaining_cents", DailyCap.remaining(spend.dayChargedCents(), w.settings().dailyCapCents()));
  }

  public static JsonObject alert(BudgetAlert a) {
    return new JsonObject()
        .put("user_sid", a.userSid())
        .put("threshold_pct", a.thresholdPct())
        .put("cycle", a.cycle())
        .put("spent_cents", a.spentCents())
        .put("budget_cents", a.budgetCents())
        .put("fired_at", time(a.firedAt()));
  }

  public static JsonArray alerts(Collection<BudgetAlert> alerts) {
    JsonArray array = new JsonArray();
    alerts.forEach(a -> array.add(alert(a)));
    return array;
  }

  public static JsonObject transaction(LedgerTxn t) {
    JsonObject source = t.sourceNode() == null ? null : new JsonObject()
        .put("node", t.sourceNode())
        .put("commit", t.sourceCommit())
        .put("records", t.sourceRecords());
    return new JsonObject()
        .put("txn_id", t.txnId())
        .put("user_sid", t.userSid())
        .put("type", t.type().sqlName())
        .put("amount_cents", t.amountCents())
        .put("occurred_at", time(t.occurredAt()))
        .put("initiated_by", t.initiatedBy())
        .put("source", source)
        .put("note", t.note())
        .put("payment_id", t.paymentId());
  }

  /** A webhook event and its delivery: {@code event} is the JSON posted, as posted. */
  public static JsonObject delivery(Delivery d) {
    return new JsonObject()
        .put("event_id", d.eventId())
        .put("type", d.type())
        .put("status", d.status().sqlName())
        .put("attempts", d.attempts())
        .put("created_at", time(d.createdAt()))
        .put("next_attempt_at", time(d.nextAttemptAt()))
        .put("last_attempt_at", time(d.lastAttemptAt()))
        .put("last_error", d.lastError())
        .put("last_status_code", d.lastStatusCode())
        .put("delivered_at", time(d.deliveredAt()))
        .put("failed_at", time(d.failedAt()))
        .put("retried_by", d.retriedBy())
        .put("retried_at", time(d.retriedAt()))
        .put("event", new JsonObject(d.body()));
  }

  /**
   * A hold, with its wallet's available balance; its state at {@code now} ({@code expired} once
   * its time has passed while active).
   */
  public static JsonObject hold(Hold h, long availableCents, Instant now) {
    return new JsonObject()
        .put("hold_id", h.holdId())
        .put("user_sid", h.userSid())
        .put("amount_cents", h.amountCents())
        .put("node", h.node())
        .put("idempotency_key", h.idempotencyKey())
        .put("state", h.stateAt(now))
        .put("created_at", time(h.createdAt()))
        .put("expires_at", time(h.expiresAt()))
        .put("initiated_by", h.initiatedBy())
        .put("ended_at", time(h.endedAt()))
        .put("available_cents", availableCents);
  }

  public static JsonObject verifyReport(List<Violation> violations) {
    JsonArray array = new JsonArray();
    violations.forEach(v -> array.add(new JsonObject().put("rule", v.rule()).put("message", v.message())));
    return new JsonObject().put("ok", violations.isEmpty()).put("violations", array);
  }

  /** A payment received but not credited: its amount is the provider's, in its currency's unit, not cents. */
  public static JsonObject unappliedPayment(UnappliedPayment p) {
    return new JsonObject().put("event_id", p.eventId()).put("payment_intent_id", p.paymentIntentId())
        .put("user_sid", p.userSid()).put("amount", p.amount()).put("currency", p.currency())
        .put("reason", p.reason()).put("received_at", time(p.receivedAt()));
  }

  private static String time(Instant instant) {
    return instant == null ? null : instant.toString();
  }
}
