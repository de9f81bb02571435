package dev.meterd.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
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
    List<String> all = new ArrayList<>(List.of(args));
    all.addAll(List.of("--db", tmp.resolve("meterd.db").toString()));
    ByteArrayOutputStream o = new ByteArrayOutputStream();
    ByteArrayOutputStream e = new ByteArrayOutputStream();
    int code = Main.execute(all.toArray(String[]::new), new PrintStream(o, true, StandardCharsets.UTF_8),
        new PrintStream(e, true, StandardCharsets.UTF_8), Map.of());
    out = o.toString(StandardCharsets.UTF_8);
    err = e.toString(StandardCharsets.UTF_8);
    return code;
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
}
