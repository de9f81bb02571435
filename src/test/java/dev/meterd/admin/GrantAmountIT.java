package dev.meterd.admin;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.testing.RunningDaemon;
import dev.meterd.testing.UsageRepo;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpResponse;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The grant's amount over HTTP at every boundary: an amount is an integer written as one (no
 * fraction, no exponent, not a string) within 1 to {@code max_grant_cents}, or the request is
 * refused with 400 and nothing is credited. Nothing is ever truncated to 64 bits.
 */
class GrantAmountIT {

  private static final long MAX = RunningDaemon.MAX_GRANT_CENTS;

  @TempDir
  Path tmp;

  private UsageRepo repo;
  private RunningDaemon daemon;

  @BeforeEach
  void setUp() throws Exception {
    repo = new UsageRepo(tmp.resolve("usage.git"));
    daemon = new RunningDaemon(tmp, repo);
  }

  @AfterEach
  void tearDown() throws Exception {
    daemon.close();
    repo.close();
  }

  private HttpResponse<Buffer> grant(String body) throws Exception {
    return RunningDaemon.get(daemon.request("POST", "/admin/wallets/u1/grant", RunningDaemon.ADMIN_TOKEN)
        .putHeader("Content-Type", "application/json").sendBuffer(Buffer.buffer(body)));
  }

  @Test
  void aBodyNamingAMemberTwiceIsRefusedWhoeverWouldReadWhichValue() throws Exception {
    for (String body : new String[] {"{\"amount_cents\": 100, \"amount_cents\": 5}",
        "{\"note\": \"a\", \"amount_cents\": 5, \"note\": \"b\"}"}) {
      HttpResponse<Buffer> r = grant(body);
      assertThat(r.statusCode()).as(body).isEqualTo(400);
      assertThat(r.bodyAsJsonObject().getString("error")).as(body).matches(
          "the body names \"(amount_cents|note)\" more than once; send each member once");
    }
    assertThat(grant("{\"amount_cents\": 5, \"note\": \"once\"}").statusCode()).isEqualTo(200);
    assertThat(daemon.json("GET", "/admin/wallets/u1").getLong("balance_cents")).isEqualTo(5);
  }

  @Test
  void aGrantThatWouldPassTheLargestBalanceIs400AndCreditsNothing() throws Exception {
    try (dev.meterd.ledger.SqliteLedger ledger = dev.meterd.ledger.SqliteLedger.open(tmp.resolve("meterd.db"),
        java.time.Clock.systemUTC())) {
      ledger.walletStore().credit("u1", dev.meterd.ledger.TxnType.GRANT, Long.MAX_VALUE - 5, "setup", null);
    }
    HttpResponse<Buffer> r = grant("{\"amount_cents\": 10}");
    assertThat(r.statusCode()).isEqualTo(400);
    assertThat(r.bodyAsJsonObject().getString("error")).isEqualTo("the balance of wallet u1 ("
        + (Long.MAX_VALUE - 5) + " cents) cannot take a change of 10 cents: it would leave the 64-bit range of "
        + "cents; nothing was applied");
    assertThat(daemon.json("GET", "/admin/wallets/u1").getLong("balance_cents")).isEqualTo(Long.MAX_VALUE - 5);
  }

  @Test
  void refusesEveryAmountThatIsNotAnIntegerWithinRangeAndCreditsNothing() throws Exception {
    // The body as sent, and what the error quotes back.
    Map<String, String> refused = new LinkedHashMap<>();
    refused.put("{\"amount_cents\": 0}", "0");
    refused.put("{\"amount_cents\": -1}", "-1");
    refused.put("{\"amount_cents\": " + (MAX + 1) + "}", Long.toString(MAX + 1));
    refused.put("{\"amount_cents\": 9223372036854775807}", "9223372036854775807");
    refused.put("{\"amount_cents\": 9223372036854775808}", "9223372036854775808");
    refused.put("{\"amount_cents\": 18446744073709551716}", "18446744073709551716");
    refused.put("{\"amount_cents\": -18446744073709551516}", "-18446744073709551516");
    refused.put("{\"amount_cents\": 1.0}", "1.0");
    refused.put("{\"amount_cents\": 1e2}", "100.0");
    refused.put("{\"amount_cents\": 1.5}", "1.5");
    refused.put("{\"amount_cents\": \"100\"}", "\"100\"");
    refused.put("{\"amount_cents\": null}", "null");
    refused.put("{\"amount_cents\": true}", "true");
    refused.put("{\"amount_cents\": [100]}", "[100]");
    refused.put("{\"note\": \"no amount\"}", "nothing");
    Map<String, String> expected = new LinkedHashMap<>();
    Map<String, String> answered = new LinkedHashMap<>();
    for (Map.Entry<String, String> bad : refused.entrySet()) {
      expected.put(bad.getKey(), "400 amount_cents must be an integer from 1 to " + MAX
          + " (whole cents, without a fraction or exponent), got " + bad.getValue());
      HttpResponse<Buffer> r = grant(bad.getKey());
      answered.put(bad.getKey(), r.statusCode() + " " + r.bodyAsJsonObject().getValue("error"));
    }
    assertThat(answered).isEqualTo(expected);
    assertThat(daemon.call("GET", "/admin/wallets/u1", RunningDaemon.ADMIN_TOKEN).statusCode())
        .as("no wallet was opened").isEqualTo(404);

    HttpResponse<Buffer> one = grant("{\"amount_cents\": 1}");
    assertThat(one.statusCode()).isEqualTo(200);
    assertThat(one.bodyAsJsonObject().getLong("amount_cents")).isEqualTo(1);
    HttpResponse<Buffer> max = grant("{\"amount_cents\": " + MAX + "}");
    assertThat(max.statusCode()).isEqualTo(200);
    assertThat(max.bodyAsJsonObject().getLong("amount_cents")).isEqualTo(MAX);
    assertThat(daemon.json("GET", "/admin/wallets/u1").getLong("balance_cents")).isEqualTo(1 + MAX);
  }

  /**
   * A note or a user holding U+0000 is refused on either engine: PostgreSQL's text cannot store it,
   * and the write failed there with a 503 that no retry cures.
   */
  @Test
  void aNoteOrAUserHoldingU0000IsRefusedAndNothingIsCredited() throws Exception {
    HttpResponse<Buffer> note = grant("{\"amount_cents\": 5, \"note\": \"a\\u0000b\"}");
    assertThat(note.statusCode() + " " + note.bodyAsJsonObject().getString("error"))
        .isEqualTo("400 note must not contain U+0000, which the ledger cannot store");
    HttpResponse<Buffer> user = RunningDaemon.get(daemon.request("POST", "/admin/wallets/u%001/grant",
        RunningDaemon.ADMIN_TOKEN).putHeader("Content-Type", "application/json")
        .sendBuffer(Buffer.buffer("{\"amount_cents\": 5}")));
    assertThat(user.statusCode() + " " + user.bodyAsJsonObject().getString("error"))
        .isEqualTo("400 the user must not contain U+0000, which the ledger cannot store");
    assertThat(daemon.transactions("/admin/list-billing?limit=500")).isEmpty();
  }

  @Test
  void refusesABodyThatIsNotAJsonObject() throws Exception {
    for (String body : new String[] {"nope", "[1]", "100", "null", ""}) {
      HttpResponse<Buffer> r = grant(body);
      assertThat(r.statusCode()).as(body).isEqualTo(400);
      assertThat(r.bodyAsJsonObject()).as(body).isEqualTo(new JsonObject().put("error",
          "the body must be a JSON object {\"amount_cents\": N, \"note\": \"...\"}"));
    }
  }
}
