package dev.meterd.cli;

import dev.meterd.admin.GrantRequest;
import dev.meterd.admin.IdempotencyKey;
import dev.meterd.admin.JsonViews;
import dev.meterd.admin.SettingsRequest;
import dev.meterd.ledger.Idempotent;
import dev.meterd.ledger.TxnType;
import dev.meterd.ledger.Wallet;
import dev.meterd.policy.WalletSettings;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "wallet", mixinStandardHelpOptions = true,
    description = "Shows and credits wallets, and sets their credit policy.",
    subcommands = {WalletCommand.Show.class, WalletCommand.ListWallets.class, WalletCommand.Grant.class,
        WalletCommand.Set.class})
final class WalletCommand {

  @ParentCommand
  Main main;

  @Command(name = "show", mixinStandardHelpOptions = true,
      description = {"Prints one wallet with its newest transactions.", "Exit: 0; 1 no such wallet."})
  static final class Show implements Callable<Integer> {

    @ParentCommand
    WalletCommand parent;

    @Parameters(paramLabel = "USER", description = "The wallet's user_sid")
    String user;

    @Option(names = "--limit", defaultValue = "50", description = "How many transactions (default ${DEFAULT-VALUE})")
    int limit;

    @Override
    public Integer call() {
      if (limit < 1 || limit > 10_000) {
        throw new UsageException("--limit must be 1 to 10000, got " + limit);
      }
      try (Context ctx = parent.main.context()) {
        Wallet wallet = ctx.ledger().reads().wallet(user)
            .orElseThrow(() -> new NotFoundException("no wallet for user " + user
                + "; a wallet opens at its first charge or grant"));
        ctx.print(JsonViews.walletShown(ctx.ledger().reads(), wallet, limit, ctx.clock.instant()).encode());
        return ExitCodes.OK;
      }
    }
  }

  @Command(name = "list", mixinStandardHelpOptions = true, description = "Prints every wallet.")
  static final class ListWallets implements Callable<Integer> {

    @ParentCommand
    WalletCommand parent;

    @Override
    public Integer call() {
      try (Context ctx = parent.main.context()) {
        ctx.print(JsonViews.wallets(ctx.ledger().reads().wallets()).encode());
        return ExitCodes.OK;
      }
    }
  }

  @Command(name = "grant", mixinStandardHelpOptions = true,
      description = {"Credits a wallet (opening it if needed), attributed to --by.",
          "With --idempotency-key, a grant given the same key again (here or over HTTP) credits nothing more and "
              + "prints the first grant's transaction; the key with another grant exits 2.",
          "Exit: 0; 2 invalid amount, or a key used before for another request."})
  static final class Grant implements Callable<Integer> {

    @ParentCommand
    WalletCommand parent;

    @Parameters(index = "0", paramLabel = "USER", description = "The wallet's user_sid")
    String user;

    @Parameters(index = "1", paramLabel = "AMOUNT_CENTS",
        description = "An integer number of cents, 1 to [admin] max_grant_cents")
    String amount;

    @Option(names = "--by", required = true, paramLabel = "NAME", description = "Who initiates the grant")
    String by;

    @Option(names = "--note", paramLabel = "TEXT", description = "Why")
    String note;

    @Option(names = "--idempotency-key", paramLabel = "KEY", description = "Grant at most once under KEY (1 to 200 "
        + "printable ASCII characters), as the HTTP API's Idempotency-Key header; keys are kept 7 days")
    String idempotencyKey;

    @Override
    public Integer call() {
      try (Context ctx = parent.main.context()) {
        long cents = parseAmount(amount, ctx.config.admin().maxGrantCents());
        if (by.isBlank()) {
          throw new UsageException("--by must name who initiates the grant");
        }
        if (user.isEmpty() || user.length() > 200) {
          throw new UsageException("USER must be 1 to 200 characters");
        }
        if (idempotencyKey != null && !IdempotencyKey.valid(idempotencyKey)) {
          throw new UsageException("--idempotency-key " + IdempotencyKey.RULE);
        }
        if (idempotencyKey == null) {
          ctx.print(JsonViews.transaction(ctx.ledger().walletStore().credit(user, TxnType.GRANT, cents, by, note)).encode());
          return ExitCodes.OK;
        }
        return grantOnce(ctx, new GrantRequest(user, cents, note));
      }
    }

    private int grantOnce(Context ctx, GrantRequest grant) {
      Idempotent outcome = grant.creditOnce(ctx.ledger(), idempotencyKey, by);
      if (outcome instanceof Idempotent.KeyReused) {
        throw new UsageException("idempotency key \"" + idempotencyKey + "\" was used before with another request "
            + "(another user, amount or note), so this grant was not applied; give a new key for a new grant");
      }
      if (outcome instanceof Idempotent.Replayed replayed) {
        ctx.note("idempotency key \"" + idempotencyKey + "\" was used before for this very grant; nothing more was "
            + "credited, and the first grant's transaction follows");
        ctx.print(replayed.response().body());
      } else {
        ctx.print(((Idempotent.Applied) outcome).response().body());
      }
      return ExitCodes.OK;
    }

    /** The amount as {@code POST /admin/wallets/{user}/grant} takes it: an integer from 1 to max, never truncated. */
    static long parseAmount(String text, long max) {
      java.util.OptionalLong cents = text.matches("[+-]?[0-9]+")
          ? GrantRequest.centsWithin(new java.math.BigInteger(text), max) : java.util.OptionalLong.empty();
      return cents.orElseThrow(() -> new UsageException("AMOUNT_CENTS must be an integer from 1 to " + max
          + " (see [admin] max_grant_cents), got \"" + text + "\""));
    }
  }

  @Command(name = "set", mixinStandardHelpOptions = true,
      description = {"Sets a wallet's credit policy (opening the wallet if needed); amounts in cents, 0 = off. "
          + "The change is recorded with who made it and the values before and after.",
          "Exit: 0; 2 an invalid value, or nothing to set."})
  static final class Set implements Callable<Integer> {

    @ParentCommand
    WalletCommand parent;

    @Parameters(paramLabel = "USER", description = "The wallet's user_sid")
    String user;

    @Option(names = "--monthly-budget", paramLabel = "N", description = "Spend per UTC month that budget alerts measure")
    String monthlyBudget;

    @Option(names = "--daily-cap", paramLabel = "N", description = "Most a UTC day's usage is charged; the rest is waived")
    String dailyCap;

    @Option(names = "--auto-topup-threshold", paramLabel = "N", description = "A balance below it requests a top-up")
    String autoTopupThreshold;

    @Option(names = "--auto-topup-amount", paramLabel = "N", description = "The top-up requested")
    String autoTopupAmount;

    @Option(names = "--enabled", paramLabel = "true|false", description = "A disabled wallet is refused by authorize")
    String enabled;

    @Option(names = "--by", paramLabel = "NAME", description = "Who makes the change (default: cli:<OS user>)")
    String by;

    @Override
    public Integer call() {
      WalletSettings.Patch patch = patch();
      if (patch.empty()) {
        throw new UsageException("name at least one setting: --monthly-budget, --daily-cap, --auto-topup-threshold, "
            + "--auto-topup-amount or --enabled");
      }
      if (user.isEmpty() || user.codePointCount(0, user.length()) > 200) {
        throw new UsageException("USER must be 1 to 200 characters");
      }
      String initiatedBy = by != null ? by : "cli:" + System.getProperty("user.name", "unknown");
      if (initiatedBy.isBlank()) {
        throw new UsageException("--by must name who makes the change");
      }
      try (Context ctx = parent.main.context()) {
        Wallet wallet = ctx.ledger().walletStore().updateSettings(user, patch, initiatedBy);
        ctx.print(JsonViews.walletShown(ctx.ledger().reads(), wallet, 50, ctx.clock.instant()).encode());
        return ExitCodes.OK;
      }
    }

    private WalletSettings.Patch patch() {
      if (enabled != null && !enabled.equals("true") && !enabled.equals("false")) {
        throw new UsageException("--enabled must be true or false, got \"" + enabled + "\"");
      }
      return new WalletSettings.Patch(cents(SettingsRequest.MONTHLY_BUDGET, monthlyBudget),
          cents(SettingsRequest.DAILY_CAP, dailyCap), cents(SettingsRequest.AUTO_TOPUP_THRESHOLD, autoTopupThreshold),
          cents(SettingsRequest.AUTO_TOPUP_AMOUNT, autoTopupAmount), enabled == null ? null : Boolean.valueOf(enabled));
    }

    private static Long cents(String name, String text) {
      if (text == null) {
        return null;
      }
      try {
        return SettingsRequest.centsOf(name, text);
      } catch (IllegalArgumentException e) {
        throw new UsageException(e.getMessage());
      }
    }
  }
}
