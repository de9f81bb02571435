package dev.meterd.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code wallet grant} in-process: the amount at every boundary, and its idempotency key. */
class WalletGrantIT {

  private static final long MAX = 1_000_000;

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

  private long balance(String user) {
    assertThat(meterd("wallet", "show", user)).as(err).isZero();
    return new JsonObject(out.strip()).getLong("balance_cents");
  }

  @Test
  void refusesEveryAmountThatIsNotAnIntegerWithinRangeWithExitTwoAndCreditsNothing() {
    Map<String, String> expected = new LinkedHashMap<>();
    Map<String, String> answered = new LinkedHashMap<>();
    for (String amount : List.of("0", "-1", Long.toString(MAX + 1), "9223372036854775807", "9223372036854775808",
        "18446744073709551716", "1.0", "1e2", "0x10", "ten", "", " 5")) {
      expected.put(amount, "2 meterd: AMOUNT_CENTS must be an integer from 1 to " + MAX
          + " (see [admin] max_grant_cents), got \"" + amount + "\"");
      int code = meterd("wallet", "grant", "u1", amount, "--by", "alice");
      answered.put(amount, code + " " + err.strip());
    }
    assertThat(answered).isEqualTo(expected);
    assertThat(meterd("wallet", "list")).isZero();
    assertThat(new JsonObject(out.strip()).getJsonArray("wallets")).isEmpty();

    assertThat(meterd("wallet", "grant", "u1", "1", "--by", "alice")).isZero();
    assertThat(meterd("wallet", "grant", "u1", Long.toString(MAX), "--by", "alice")).isZero();
    assertThat(new JsonObject(out.strip()).getLong("amount_cents")).isEqualTo(MAX);
    assertThat(balance("u1")).isEqualTo(1 + MAX);
  }

  @Test
  void theSameIdempotencyKeyPrintsTheSameTransactionAndAnotherGrantUnderItExitsTwo() {
    assertThat(meterd("wallet", "grant", "u1", "300", "--by", "alice", "--idempotency-key", "k-1")).isZero();
    String first = out.strip();
    assertThat(err).isEmpty();
    assertThat(meterd("wallet", "grant", "u1", "300", "--by", "bob", "--idempotency-key", "k-1")).isZero();
    assertThat(out.strip()).isEqualTo(first);
    assertThat(err.strip()).isEqualTo("meterd: idempotency key \"k-1\" was used before for this very grant; nothing "
        + "more was credited, and the first grant's transaction follows");
    assertThat(new JsonObject(first).getString("initiated_by")).isEqualTo("alice");

    Map<String, String[]> others = new LinkedHashMap<>();
    others.put("amount", new String[] {"wallet", "grant", "u1", "301", "--by", "alice", "--idempotency-key", "k-1"});
    others.put("user", new String[] {"wallet", "grant", "u2", "300", "--by", "alice", "--idempotency-key", "k-1"});
    others.put("note", new String[] {"wallet", "grant", "u1", "300", "--by", "alice", "--note", "n",
        "--idempotency-key", "k-1"});
    for (Map.Entry<String, String[]> other : others.entrySet()) {
      assertThat(meterd(other.getValue())).as(other.getKey()).isEqualTo(2);
      assertThat(out).as(other.getKey()).isEmpty();
      assertThat(err.strip()).as(other.getKey()).isEqualTo("meterd: idempotency key \"k-1\" was used before with "
          + "another request (another user, amount or note), so this grant was not applied; give a new key for a "
          + "new grant");
    }
    assertThat(balance("u1")).isEqualTo(300);
    assertThat(meterd("wallet", "show", "u2")).isEqualTo(1);
  }

  @Test
  void anIdempotencyKeyIsOneTo200PrintableAsciiCharactersOrExitTwo() {
    for (String bad : List.of("", "k".repeat(201), " lead", "trail ", "tab\there", "nul\u0000l", "del\u007f",
        "caf\u00e9")) {
      assertThat(meterd("wallet", "grant", "u1", "5", "--by", "alice", "--idempotency-key", bad)).as(bad).isEqualTo(2);
      assertThat(err.strip()).as(bad).isEqualTo("meterd: --idempotency-key must be 1 to 200 printable ASCII "
          + "characters, not starting or ending with a space");
    }
    assertThat(meterd("wallet", "list")).isZero();
    assertThat(new JsonObject(out.strip()).getJsonArray("wallets")).isEmpty();
    assertThat(meterd("wallet", "grant", "u1", "5", "--by", "alice", "--idempotency-key", "k".repeat(200))).isZero();
  }
}
