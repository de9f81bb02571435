package dev.meterd.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.ledger.SqliteLedger;
import dev.meterd.ledger.UnappliedPayment;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The command line and the ledger's currency: a ledger keeps the currency it was started with
 * (every command that opens it, and {@code serve}, refuses another {@code [billing] currency}
 * with exit 2 and one sentence, and writes nothing); {@code verify} counts the payments kept
 * unapplied on stderr without failing on them.
 */
class CurrencyCommandsIT {

  @TempDir
  Path tmp;

  private Path config(String name, String currency) throws Exception {
    Path file = tmp.resolve(name);
    Files.writeString(file, "[billing]\ncurrency = \"" + currency + "\"\n");
    return file;
  }

  private CliRun meterd(Path config, String... args) {
    String[] all = new String[args.length + 2];
    System.arraycopy(args, 0, all, 0, args.length);
    all[args.length] = "--config";
    all[args.length + 1] = config.toString();
    return CliRun.on(tmp.resolve("meterd.db"), all);
  }

  @Test
  void everyCommandAndServeRefuseALedgerOfAnotherCurrencyWithExitTwo() throws Exception {
    Path usd = config("usd.toml", "USD");
    Path eur = config("eur.toml", "EUR");
    CliRun grant = meterd(usd, "wallet", "grant", "u1", "1999", "--by", "alice");
    assertThat(grant.code()).as(grant.err()).isZero();
    byte[] before = Files.readAllBytes(tmp.resolve("meterd.db"));

    String refusal = "meterd: the ledger " + tmp.resolve("meterd.db") + " keeps its amounts in USD but [billing] "
        + "currency is EUR: set [billing] currency = \"USD\" again (a ledger's currency never changes: its balances "
        + "would be relabelled), or point [storage] path at a new ledger for EUR\n";
    for (String[] command : new String[][] {{"wallet", "show", "u1"}, {"wallet", "list"},
        {"wallet", "grant", "u1", "5", "--by", "alice"}, {"wallet", "set", "u1", "--daily-cap", "5"},
        {"alerts", "run"}, {"status"}, {"verify"}, {"node", "resume", "A"}}) {
      CliRun refused = meterd(eur, command);
      assertThat(refused.code()).as(String.join(" ", command)).isEqualTo(ExitCodes.USAGE);
      assertThat(refused.err()).as(String.join(" ", command)).isEqualTo(refusal);
      assertThat(refused.out()).isEmpty();
    }

    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int served = Main.execute(new String[] {"serve", "--config", eur.toString(), "--db",
        tmp.resolve("meterd.db").toString(), "--source", tmp.resolve("usage.git").toString()},
        new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8),
        Map.of("METERD_ADMIN_TOKEN", "admin-token-0123456789"));
    assertThat(served).isEqualTo(ExitCodes.USAGE);
    assertThat(err.toString(StandardCharsets.UTF_8)).isEqualTo(refusal);

    assertThat(Files.readAllBytes(tmp.resolve("meterd.db"))).as("nothing was written").isEqualTo(before);
    CliRun shown = meterd(usd, "wallet", "show", "u1");
    assertThat(shown.code()).as(shown.err()).isZero();
    assertThat(new JsonObject(shown.out().strip()).getLong("balance_cents")).isEqualTo(1999);
  }

  @Test
  void verifyCountsTheUnappliedPaymentsOnStderrAndStillHolds() throws Exception {
    Path usd = config("usd.toml", "USD");
    CliRun clean = meterd(usd, "verify");
    assertThat(clean.code()).as(clean.err()).isZero();
    assertThat(clean.out().strip()).isEqualTo("{\"ok\":true,\"violations\":[]}");
    assertThat(clean.err()).isEmpty();
    try (SqliteLedger ledger = SqliteLedger.open(tmp.resolve("meterd.db"), java.time.Clock.systemUTC())) {
      ledger.unappliedPayments().keep(new UnappliedPayment("evt_1", "pi_1", "u1", 1_999, "EUR",
          "currency EUR is not the ledger's currency USD", java.time.Instant.parse("2026-11-30T10:00:00Z")));
    }
    CliRun one = meterd(usd, "verify");
    assertThat(one.code()).as(one.err()).isZero();
    assertThat(one.out().strip()).isEqualTo("{\"ok\":true,\"violations\":[]}");
    assertThat(one.err()).isEqualTo("meterd: 1 payment received by the provider was not credited (not in the "
        + "ledger's cents): an admin must handle it, see GET /admin/payments/unapplied or the "
        + "payments page\n");
    try (SqliteLedger ledger = SqliteLedger.open(tmp.resolve("meterd.db"), java.time.Clock.systemUTC())) {
      ledger.unappliedPayments().keep(new UnappliedPayment("evt_2", "pi_2", "u1", 500, "JPY",
          "currency JPY is not the ledger's currency USD", java.time.Instant.parse("2026-11-30T10:01:00Z")));
    }
    CliRun two = meterd(usd, "verify");
    assertThat(two.code()).isZero();
    assertThat(two.err()).isEqualTo("meterd: 2 payments received by the provider were not credited (not in the "
        + "ledger's cents): an admin must handle them, see GET /admin/payments/unapplied or the "
        + "payments page\n");
  }
}
