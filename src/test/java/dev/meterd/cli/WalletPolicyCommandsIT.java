package dev.meterd.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.ledger.SqliteLedger;
import dev.meterd.ledger.TxnType;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.time.Clock;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code wallet set} and {@code alerts run} in-process. */
class WalletPolicyCommandsIT {

  @TempDir
  Path tmp;

  private String out;
  private String err;

  private int meterd(String... args) {
    CliRun run = CliRun.on(tmp.resolve("meterd.db"), args);
    out = run.out();
    err = run.err();
    return run.code();
  }

  @Test
  void walletSetChangesOnlyWhatItNamesAndRefusesBadValuesWithExitTwo() {
    assertThat(meterd("wallet", "set", "u1", "--monthly-budget", "10000", "--daily-cap", "500", "--by", "alice"))
        .as(err).isZero();
    JsonObject wallet = new JsonObject(out.strip());
    assertThat(wallet.getLong("monthly_budget_cents")).isEqualTo(10_000);
    assertThat(wallet.getLong("daily_cap_cents")).isEqualTo(500);
    assertThat(wallet.getBoolean("enabled")).isTrue();

    assertThat(meterd("wallet", "set", "u1", "--enabled", "false", "--auto-topup-threshold", "100",
        "--auto-topup-amount", "2000")).as(err).isZero();
    wallet = new JsonObject(out.strip());
    assertThat(wallet.getLong("monthly_budget_cents")).isEqualTo(10_000);
    assertThat(wallet.getLong("auto_topup_threshold_cents")).isEqualTo(100);
    assertThat(wallet.getLong("auto_topup_amount_cents")).isEqualTo(2_000);
    assertThat(wallet.getBoolean("enabled")).isFalse();

    assertThat(meterd("wallet", "set", "u1", "--daily-cap", "1.5")).isEqualTo(2);
    assertThat(err.strip()).isEqualTo("meterd: daily_cap_cents must be an integer number of cents from 0 (off) to "
        + Long.MAX_VALUE + " (without a fraction or exponent), got \"1.5\"");
    assertThat(meterd("wallet", "set", "u1", "--enabled", "yes")).isEqualTo(2);
    assertThat(err.strip()).isEqualTo("meterd: --enabled must be true or false, got \"yes\"");
    assertThat(meterd("wallet", "set", "u1")).isEqualTo(2);
    assertThat(err.strip()).isEqualTo("meterd: name at least one setting: --monthly-budget, --daily-cap, "
        + "--auto-topup-threshold, --auto-topup-amount or --enabled");
    assertThat(meterd("wallet", "show", "u1")).isZero();
    assertThat(new JsonObject(out.strip()).getLong("daily_cap_cents")).isEqualTo(500);
  }

  @Test
  void alertsRunPrintsWhatFiredAndItsDryRunWritesNothing() {
    try (SqliteLedger ledger = SqliteLedger.open(tmp.resolve("meterd.db"), Clock.systemUTC())) {
      ledger.walletStore().credit("u1", TxnType.GRANT, 1, "setup", null);
    }
    assertThat(meterd("wallet", "set", "u1", "--monthly-budget", "100")).isZero();
    assertThat(meterd("alerts", "run", "--cycle", "2026-11", "--dry-run")).as(err).isZero();
    assertThat(new JsonObject(out.strip())).isEqualTo(new JsonObject()
        .put("cycle", "2026-11").put("dry_run", true).put("fired", new io.vertx.core.json.JsonArray()));
    assertThat(meterd("alerts", "run", "--cycle", "2026-13")).isEqualTo(2);
    assertThat(err.strip()).isEqualTo("meterd: --cycle must be a month YYYY-MM, got \"2026-13\"");
    assertThat(meterd("alerts", "run", "--cycle", "26-11")).isEqualTo(2);
  }
}
