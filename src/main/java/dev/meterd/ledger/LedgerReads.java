package dev.meterd.ledger;

import java.time.Instant;
import java.time.LocalDate;
import java.time.YearMonth;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/** What the admin API, the pages and the commands read: nodes, wallets, transactions, usage. */
public interface LedgerReads {

  /** Every node the ledger knows, by name. */
  Map<String, NodeState> nodes();

  Optional<NodeState> node(String name);

  Optional<Wallet> wallet(String userSid);

  List<Wallet> wallets();

  /** A wallet's transactions, newest first. */
  List<LedgerTxn> transactions(String userSid, int limit);

  /**
   * Ledger transactions of the given types, newest first.
   *
   * @param beforeTxnId only transactions with a smaller id (the page cursor), or null for the newest
   */
  List<LedgerTxn> transactionPage(Set<TxnType> types, Long beforeTxnId, int limit);

  /** How usage is grouped by {@link #usage}. */
  enum Bucket {
    DAY,
    WEEK,
    MONTH
  }

  /**
   * Consumed usage in one bucket.
   *
   * @param start the bucket's first day (a Monday for weeks, the 1st for months), UTC
   */
  record UsageBucket(LocalDate start, long records, long costCents, long waivedCents) {

    /** What the bucket's records were charged: their cost less what daily caps waived. */
    public long chargedCents() {
      return costCents - waivedCents;
    }
  }

  /**
   * Consumed records grouped by their {@code occurred_at} (UTC), oldest first.
   *
   * @param from first day included, or null
   * @param to first day excluded, or null
   */
  List<UsageBucket> usage(Bucket bucket, LocalDate from, LocalDate to);

  /**
   * A wallet's daily counters from {@code from} (included) to {@code to} (excluded), oldest first;
   * days without usage are absent.
   */
  List<DailySpend> dailySpend(String userSid, LocalDate from, LocalDate to);

  /** A wallet's policy changes, newest first. */
  List<SettingsChange> settingsChanges(String userSid, int limit);

  /**
   * Consumed records grouped by the UTC hour of their {@code occurred_at}, oldest first; hours
   * without usage are absent.
   *
   * @param from first instant included
   * @param to first instant excluded
   */
  List<HourlyUsage> usageByHour(Instant from, Instant to);

  /** A wallet's spend in {@code cycle} and on {@code day} (zero for a wallet with none). */
  WalletSpend spend(String userSid, YearMonth cycle, LocalDate day);

  /**
   * Budget alerts fired, newest first.
   *
   * @param cycle only this cycle's, or null
   * @param userSid only this wallet's, or null
   */
  List<BudgetAlert> alerts(YearMonth cycle, String userSid, int limit);

  /** The wallets below their auto top-up threshold, by user. */
  List<TopupDue> topupsDue();

  /** The latest {@code occurred_at} of any consumed record, or null. */
  Instant newestOccurredAt();
}
