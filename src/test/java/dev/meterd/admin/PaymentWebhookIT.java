package dev.meterd.admin;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.meterd.testing.MutableClock;
import dev.meterd.testing.RunningDaemon;
import dev.meterd.testing.UsageRepo;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * {@code POST /webhooks/payments} on the real server, signed as Stripe signs, on a clock the test
 * moves: a verified payment_intent.succeeded tops a wallet up once per event id; every other
 * event is acknowledged; a bad signature or an old timestamp is 400, logged without the body.
 */
class PaymentWebhookIT {

  private static final String SECRET = "whsec_test_secret_0123456789";
  private static final String PATH = "/webhooks/payments";
  /** A name only the body holds, to find in the logs. */
  private static final String CUSTOMER = "u_customer_8f3a";

  @TempDir
  Path tmp;

  private UsageRepo repo;
  private RunningDaemon daemon;
  private final MutableClock clock = new MutableClock(Instant.parse("2026-11-30T10:00:00Z"));
  private final ListAppender<ILoggingEvent> logs = new ListAppender<>();
  private final Logger webhookLog = (Logger) LoggerFactory.getLogger(PaymentWebhook.class);

  @BeforeEach
  void setUp() throws Exception {
    repo = new UsageRepo(tmp.resolve("usage.git"));
    daemon = new RunningDaemon(tmp, repo, clock, "", Map.of(PaymentWebhook.SECRET_ENV, SECRET));
    logs.start();
    webhookLog.addAppender(logs);
  }

  @AfterEach
  void tearDown() throws Exception {
    webhookLog.detachAppender(logs);
    daemon.close();
    repo.close();
  }

  /** A payment_intent.succeeded event as Stripe sends it (trimmed). */
  private static String succeeded(String eventId, String user, String amountReceived) {
    return "{\n  \"id\": \"" + eventId + "\",\n  \"object\": \"event\",\n  \"type\": \"payment_intent.succeeded\",\n"
        + "  \"livemode\": false,\n  \"data\": {\n    \"object\": {\n      \"id\": \"pi_3N1\",\n"
        + "      \"object\": \"payment_intent\",\n      \"amount\": 2000,\n      \"amount_received\": " + amountReceived
        + ",\n      \"currency\": \"usd\",\n      \"metadata\": {\"user_sid\": \"" + user + "\"}\n    }\n  }\n}";
  }

  /** Stripe's v1 signature, made here independently of the server's code. */
  private static String v1(long t, String body, String secret) throws Exception {
    Mac mac = Mac.getInstance("HmacSHA256");
    mac.init(new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
    return HexFormat.of().formatHex(mac.doFinal((t + "." + body).getBytes(StandardCharsets.UTF_8)));
  }

  private String signed(String body) throws Exception {
    long t = clock.instant().getEpochSecond();
    return "t=" + t + ",v1=" + v1(t, body, SECRET);
  }

  private HttpResponse<Buffer> deliver(String body, String signature) throws Exception {
    var request = daemon.request("POST", PATH, null).putHeader("Content-Type", "application/json; charset=utf-8");
    if (signature != null) {
      request.putHeader("Stripe-Signature", signature);
    }
    return RunningDaemon.get(request.sendBuffer(Buffer.buffer(body)));
  }

  private JsonArray ledger() throws Exception {
    return daemon.transactions("/admin/list-billing?limit=500");
  }

  private List<String> logLines() {
    return logs.list.stream().map(e -> e.getLevel() + " " + e.getFormattedMessage()).toList();
  }

  @Test
  void aSignedSucceededPaymentTopsUpOnceAndItsRedeliveryCreditsNothing() throws Exception {
    String body = succeeded("evt_1", CUSTOMER, "1999");
    HttpResponse<Buffer> first = deliver(body, signed(body));
    assertThat(first.statusCode()).as(first.bodyAsString()).isEqualTo(200);
    assertThat(first.bodyAsJsonObject()).isEqualTo(new JsonObject().put("received", true).put("event_id", "evt_1")
        .put("transaction", new JsonObject().put("txn_id", 1).put("user_sid", CUSTOMER).put("type", "topup")
            .put("amount_cents", 1999).put("occurred_at", "2026-11-30T10:00:00Z").put("initiated_by", "stripe")
            .putNull("source").put("note", "Stripe PaymentIntent pi_3N1").put("payment_id", "evt_1")));

    // Stripe redelivers when it saw no 2xx in time: a minute later, signed anew.
    clock.advance(Duration.ofMinutes(1));
    HttpResponse<Buffer> again = deliver(body, signed(body));
    assertThat(again.statusCode()).isEqualTo(200);
    assertThat(again.bodyAsString()).isEqualTo(first.bodyAsString());

    assertThat(daemon.balance(CUSTOMER)).isEqualTo(1999);
    assertThat(ledger()).hasSize(1);
    assertThat(daemon.transactions("/admin/list-payments").getJsonObject(0)
        .getString("payment_id")).isEqualTo("evt_1");
  }

  /** The JSON of an unapplied payment as the webhook and GET /admin/payments/unapplied answer it. */
  private static JsonObject unapplied(String eventId, long amount, String currency, String reason, String receivedAt) {
    return new JsonObject().put("event_id", eventId).put("payment_intent_id", "pi_3N1").put("user_sid", CUSTOMER)
        .put("amount", amount).put("currency", currency).put("reason", reason).put("received_at", receivedAt);
  }

  /** Delivers a signed event that must be answered 200 as the unapplied payment {@code row}. */
  private HttpResponse<Buffer> deliverUnapplied(String body, JsonObject row) throws Exception {
    HttpResponse<Buffer> r = deliver(body, signed(body));
    assertThat(r.statusCode()).as(r.bodyAsString()).isEqualTo(200);
    assertThat(r.bodyAsJsonObject()).isEqualTo(new JsonObject().put("received", true)
        .put("event_id", row.getString("event_id")).put("unapplied", row));
    return r;
  }

  private JsonArray unappliedListed() throws Exception {
    return daemon.json("GET", "/admin/payments/unapplied").getJsonArray("payments");
  }

  /** The unapplied payments the payments page shows, one line a row, its cells joined by " | ". */
  private List<String> unappliedOnThePage() throws Exception {
    HttpResponse<Buffer> page = daemon.call("GET", "/admin/ui/payments", RunningDaemon.ADMIN_TOKEN);
    assertThat(page.statusCode()).isEqualTo(200);
    org.jsoup.nodes.Document doc = org.jsoup.Jsoup.parse(page.bodyAsString());
    assertThat(doc.selectFirst("#unapplied h2").text()).isEqualTo("Unapplied payments");
    assertThat(doc.selectFirst("#unapplied p").text()).isEqualTo("Money the payment provider received that meterd "
        + "did not credit to any wallet, because its amount cannot be read as the ledger's USD. Each needs manual "
        + "handling: refund it with the provider, or credit what it is worth with a top-up (POST "
        + "/admin/wallets/{user}/topup, with the event id as payment_id).");
    return doc.select("#unapplied tbody tr").stream().map(row -> String.join(" | ", row.select("td").eachText()))
        .toList();
  }

  /**
   * A payment in another currency was money received that meterd cannot count: it is kept as an
   * unapplied payment (once per event id), listed for an admin, and credits nothing. The provider
   * gets its 200: a refusal would only make it retry for days.
   */
  @Test
  void aPaymentInAnotherCurrencyIsKeptUnappliedOnceCreditsNothingAndIsListed() throws Exception {
    HttpResponse<Buffer> grant = RunningDaemon.get(daemon.request("POST", "/admin/wallets/" + CUSTOMER + "/grant",
        RunningDaemon.ADMIN_TOKEN).sendJsonObject(new JsonObject().put("amount_cents", 700)));
    assertThat(grant.statusCode()).as(grant.bodyAsString()).isEqualTo(200);
    List<Object> before = ledger().getList();
    String body = succeeded("evt_eur", CUSTOMER, "1999").replace("\"usd\"", "\"eur\"");
    String reason = "currency EUR is not the ledger's currency USD";
    JsonObject row = unapplied("evt_eur", 1999, "EUR", reason, "2026-11-30T10:00:00Z");
    HttpResponse<Buffer> r = deliverUnapplied(body, row);
    assertThat(logLines()).containsExactly("ERROR payment webhook: event evt_eur acknowledged but NOT credited, kept "
        + "as an unapplied payment for an admin to handle: " + reason);

    // Redelivered a minute later: the same answer, nothing more stored.
    clock.advance(Duration.ofMinutes(1));
    HttpResponse<Buffer> again = deliver(body, signed(body));
    assertThat(again.statusCode()).isEqualTo(200);
    assertThat(again.bodyAsJsonObject()).isEqualTo(r.bodyAsJsonObject());
    assertThat(logLines().get(1)).isEqualTo("INFO payment webhook: event evt_eur was kept as an unapplied payment "
        + "before; nothing more was stored");

    String jpy = succeeded("evt_jpy", CUSTOMER, "10000").replace("\"usd\"", "\"jpy\"");
    assertThat(deliver(jpy, signed(jpy)).statusCode()).isEqualTo(200);
    assertThat(unappliedListed()).isEqualTo(new JsonArray().add(unapplied("evt_jpy", 10000, "JPY",
        "currency JPY is not the ledger's currency USD", "2026-11-30T10:01:00Z")).add(row));
    assertThat(unappliedOnThePage()).containsExactly(
        "2026-11-30T10:01:00Z | evt_jpy | pi_3N1 | " + CUSTOMER + " | 10000 | JPY | currency JPY is not the ledger's "
            + "currency USD",
        "2026-11-30T10:00:00Z | evt_eur | pi_3N1 | " + CUSTOMER + " | 1999 | EUR | " + reason);
    assertThat(daemon.balance(CUSTOMER)).isEqualTo(700);
    assertThat(ledger().getList()).isEqualTo(before);

    assertThat(daemon.call("GET", "/admin/payments/unapplied", null).statusCode()).isEqualTo(401);
    assertThat(daemon.call("GET", "/admin/payments/unapplied", RunningDaemon.GATEWAY_TOKEN).statusCode())
        .isEqualTo(403);
    assertThat(daemon.json("GET", "/admin/payments/unapplied?limit=1").getJsonArray("payments"))
        .isEqualTo(new JsonArray().add(unappliedListed().getJsonObject(0)));

    // Upper case is the ledger's currency: credited.
    String usd = succeeded("evt_usd", CUSTOMER, "500").replace("\"usd\"", "\"USD\"");
    assertThat(deliver(usd, signed(usd)).statusCode()).isEqualTo(200);
    assertThat(daemon.balance(CUSTOMER)).isEqualTo(1200);
    assertThat(unappliedListed()).hasSize(2);
  }

  /**
   * ISO 4217 gives the króna no decimals and the ledger counts whole krónur, but Stripe writes ISK
   * amounts in hundredths: 10000 is 100 kr. Crediting 10000 would be a hundred times too much.
   */
  @Test
  void anIskPaymentOnAnIskLedgerIsKeptUnappliedAndCreditsNothing() throws Exception {
    daemon.close();
    daemon = new RunningDaemon(java.nio.file.Files.createDirectories(tmp.resolve("isk")), repo, clock,
        Map.of(PaymentWebhook.SECRET_ENV, SECRET), "[billing]\ncurrency = \"ISK\"\n");
    String body = succeeded("evt_isk", CUSTOMER, "10000").replace("\"usd\"", "\"isk\"");
    String reason = "Stripe writes ISK amounts in hundredths of a króna and the ledger counts whole krónur";
    JsonObject row = unapplied("evt_isk", 10000, "ISK", reason, "2026-11-30T10:00:00Z");
    HttpResponse<Buffer> r = deliverUnapplied(body, row);
    assertThat(deliver(body, signed(body)).bodyAsJsonObject()).isEqualTo(r.bodyAsJsonObject());
    assertThat(unappliedListed()).isEqualTo(new JsonArray().add(row));
    assertThat(daemon.call("GET", "/admin/wallets/" + CUSTOMER, RunningDaemon.ADMIN_TOKEN).statusCode()).isEqualTo(404);
    assertThat(ledger()).isEmpty();
    assertThat(logLines()).containsExactly("ERROR payment webhook: event evt_isk acknowledged but NOT credited, kept "
        + "as an unapplied payment for an admin to handle: " + reason, "INFO payment webhook: event evt_isk was kept "
        + "as an unapplied payment before; nothing more was stored");
  }

  /**
   * Stripe writes MGA without decimals, while ISO 4217 (and so the ledger) counts hundredths of an
   * ariary: crediting 5000 would give 50 Ar for 5,000 Ar paid (review finding: it did).
   */
  @Test
  void anMgaPaymentOnAnMgaLedgerIsKeptUnappliedAndCreditsNothing() throws Exception {
    daemon.close();
    daemon = new RunningDaemon(java.nio.file.Files.createDirectories(tmp.resolve("mga")), repo, clock,
        Map.of(PaymentWebhook.SECRET_ENV, SECRET), "[billing]\ncurrency = \"MGA\"\n");
    String body = succeeded("evt_mga", CUSTOMER, "5000").replace("\"usd\"", "\"mga\"");
    String reason = "Stripe writes MGA amounts with 0 decimals and the ledger counts MGA with 2";
    JsonObject row = unapplied("evt_mga", 5000, "MGA", reason, "2026-11-30T10:00:00Z");
    deliverUnapplied(body, row);
    assertThat(unappliedListed()).isEqualTo(new JsonArray().add(row));
    assertThat(daemon.call("GET", "/admin/wallets/" + CUSTOMER, RunningDaemon.ADMIN_TOKEN).statusCode()).isEqualTo(404);
    assertThat(ledger()).isEmpty();
  }

  @Test
  void stripeDigitsFollowStripesListsNotIso4217() {
    assertThat(PaymentWebhook.stripeDigits("USD")).isEqualTo(2);
    assertThat(PaymentWebhook.stripeDigits("JPY")).isEqualTo(0);
    assertThat(PaymentWebhook.stripeDigits("MGA")).isEqualTo(0);
    assertThat(PaymentWebhook.stripeDigits("ISK")).isEqualTo(2);
    assertThat(PaymentWebhook.stripeDigits("KWD")).isEqualTo(3);
  }

  @Test
  void aWrongSignatureIs400AndLoggedWithoutTheBody() throws Exception {
    String body = succeeded("evt_1", CUSTOMER, "1999");
    long t = clock.instant().getEpochSecond();
    HttpResponse<Buffer> r = deliver(body, "t=" + t + ",v1=" + v1(t, body, SECRET + "-old"));
    String refusal = "no v1 signature of the Stripe-Signature header matches the body; the event was not sent by "
        + "the provider, or was changed, or METERD_PAYMENT_WEBHOOK_SECRET is not this endpoint's signing secret";
    assertThat(r.statusCode()).isEqualTo(400);
    assertThat(r.bodyAsJsonObject()).isEqualTo(new JsonObject().put("error", refusal));
    // The body changed after signing: refused the same way.
    String tampered = succeeded("evt_1", CUSTOMER, "199900");
    assertThat(deliver(tampered, signed(body)).bodyAsJsonObject().getString("error")).isEqualTo(refusal);
    HttpResponse<Buffer> unsigned = deliver(body, null);
    assertThat(unsigned.statusCode()).isEqualTo(400);
    assertThat(unsigned.bodyAsJsonObject().getString("error"))
        .isEqualTo("the request has no Stripe-Signature header; payment events must be signed by the provider");

    assertThat(daemon.call("GET", "/admin/wallets/" + CUSTOMER, RunningDaemon.ADMIN_TOKEN).statusCode()).isEqualTo(404);
    assertThat(logLines()).hasSize(3).allSatisfy(line -> assertThat(line).startsWith(
        "WARN payment webhook: refused an event from 127.0.0.1:").doesNotContain(CUSTOMER).doesNotContain("1999"));
    assertThat(logLines().get(0)).endsWith(": " + refusal);
  }

  @Test
  void anEventSignedSixMinutesAgoOrAheadIs400AndFiveMinutesIsAccepted() throws Exception {
    String body = succeeded("evt_1", CUSTOMER, "1999");
    String sixMinutesOld = signed(body);
    long t = clock.instant().getEpochSecond();
    clock.advance(Duration.ofMinutes(6));
    HttpResponse<Buffer> old = deliver(body, sixMinutesOld);
    assertThat(old.statusCode()).isEqualTo(400);
    assertThat(old.bodyAsJsonObject()).isEqualTo(new JsonObject().put("error", "the Stripe-Signature timestamp " + t
        + " is 360 seconds from this server's clock, more than the 300 allowed; a replayed or delayed event is "
        + "refused (if every event is, check the server's clock)"));

    clock.advance(Duration.ofMinutes(-12));
    HttpResponse<Buffer> ahead = deliver(body, sixMinutesOld);
    assertThat(ahead.statusCode()).isEqualTo(400);
    assertThat(ahead.bodyAsJsonObject().getString("error")).startsWith("the Stripe-Signature timestamp " + t
        + " is 360 seconds from this server's clock");
    assertThat(daemon.call("GET", "/admin/wallets/" + CUSTOMER, RunningDaemon.ADMIN_TOKEN).statusCode()).isEqualTo(404);

    clock.advance(Duration.ofMinutes(11));
    assertThat(deliver(body, sixMinutesOld).statusCode()).as("five minutes old").isEqualTo(200);
    assertThat(daemon.balance(CUSTOMER)).isEqualTo(1999);
  }

  @Test
  void duringASecretsRotationAnyV1ValueMayBeTheRightOne() throws Exception {
    String body = succeeded("evt_1", CUSTOMER, "1999");
    long t = clock.instant().getEpochSecond();
    HttpResponse<Buffer> r = deliver(body, "t=" + t + ",v1=" + v1(t, body, "whsec_the_previous_secret_000")
        + ",v1=" + v1(t, body, SECRET));
    assertThat(r.statusCode()).as(r.bodyAsString()).isEqualTo(200);
    assertThat(daemon.balance(CUSTOMER)).isEqualTo(1999);
  }

  @Test
  void otherEventsAndPaymentsForNoWalletAreAcknowledgedAndCreditNothing() throws Exception {
    String refunded = "{\"id\":\"evt_2\",\"object\":\"event\",\"type\":\"charge.refunded\",\"data\":{\"object\":"
        + "{\"id\":\"ch_1\",\"amount_refunded\":500,\"metadata\":{\"user_sid\":\"" + CUSTOMER + "\"}}}}";
    HttpResponse<Buffer> other = deliver(refunded, signed(refunded));
    assertThat(other.statusCode()).isEqualTo(200);
    assertThat(other.bodyAsJsonObject()).isEqualTo(new JsonObject().put("received", true).put("event_id", "evt_2")
        .put("ignored", "meterd records only payment_intent.succeeded events, not charge.refunded"));

    String noUser = succeeded("evt_3", CUSTOMER, "1999").replace("\"metadata\": {\"user_sid\": \"" + CUSTOMER + "\"}",
        "\"metadata\": {\"order\": \"42\"}");
    HttpResponse<Buffer> forNoWallet = deliver(noUser, signed(noUser));
    assertThat(forNoWallet.statusCode()).isEqualTo(200);
    assertThat(forNoWallet.bodyAsJsonObject().getString("ignored"))
        .isEqualTo("the PaymentIntent names no metadata.user_sid, so it pays for no wallet");
    String noMetadata = noUser.replace(",\n      \"metadata\": {\"order\": \"42\"}", "");
    assertThat(noMetadata).doesNotContain("metadata");
    HttpResponse<Buffer> withoutMetadata = deliver(noMetadata, signed(noMetadata));
    assertThat(withoutMetadata.statusCode()).isEqualTo(200);
    assertThat(withoutMetadata.bodyAsJsonObject().getString("ignored"))
        .isEqualTo("the PaymentIntent names no metadata.user_sid, so it pays for no wallet");
    assertThat(ledger()).isEmpty();
  }

  @Test
  void anAmountReceivedThatIsNotAnIntegerInRangeIs400AndNeverTruncated() throws Exception {
    String rule = "data.object.amount_received must be an integer from 1 to 9223372036854775807 (whole cents, "
        + "without a fraction or exponent), got ";
    Map<String, String> quoted = new java.util.LinkedHashMap<>();
    quoted.put("19.99", "19.99");
    quoted.put("1e3", "1000.0");
    quoted.put("\"1999\"", "\"1999\"");
    quoted.put("0", "0");
    quoted.put("-5", "-5");
    quoted.put("18446744073709551716", "18446744073709551716");
    quoted.put("null", "null");
    int n = 0;
    for (Map.Entry<String, String> amount : quoted.entrySet()) {
      String body = succeeded("evt_" + n++, CUSTOMER, amount.getKey());
      HttpResponse<Buffer> r = deliver(body, signed(body));
      assertThat(r.statusCode()).as(amount.getKey()).isEqualTo(400);
      assertThat(r.bodyAsJsonObject().getString("error")).as(amount.getKey()).isEqualTo(rule + amount.getValue());
    }
    assertThat(ledger()).isEmpty();
    String largest = succeeded("evt_max", CUSTOMER, Long.toString(Long.MAX_VALUE));
    assertThat(deliver(largest, signed(largest)).statusCode()).isEqualTo(200);
    assertThat(daemon.balance(CUSTOMER)).isEqualTo(Long.MAX_VALUE);
  }

  /**
   * A payment whose user or PaymentIntent id holds U+0000 is 400 on either engine: PostgreSQL's
   * text cannot store it, and the write failed there with a 503 that Stripe would retry for days.
   */
  @Test
  void aPaymentWhoseUserOrIntentHoldsU0000Is400AndCreditsNothing() throws Exception {
    String user = succeeded("evt_1", "u\\u0000x", "1999");
    HttpResponse<Buffer> r = deliver(user, signed(user));
    assertThat(r.statusCode() + " " + r.bodyAsJsonObject().getString("error"))
        .isEqualTo("400 data.object.metadata.user_sid must not contain U+0000, which the ledger cannot store");
    String intent = succeeded("evt_2", CUSTOMER, "1999").replace("\"pi_3N1\"", "\"pi_\\u0000\"");
    r = deliver(intent, signed(intent));
    assertThat(r.statusCode() + " " + r.bodyAsJsonObject().getString("error"))
        .isEqualTo("400 data.object.id must not contain U+0000, which the ledger cannot store");
    assertThat(ledger()).isEmpty();
  }

  @Test
  void aSucceededPaymentWithoutACurrencyCodeIs400AndKeepsNothing() throws Exception {
    Map<String, String> answers = new java.util.LinkedHashMap<>();
    for (String currency : List.of("\"\"", "\"usdollar\"", "840", "null")) {
      String body = succeeded("evt_" + answers.size(), CUSTOMER, "1999").replace("\"usd\"", currency);
      HttpResponse<Buffer> r = deliver(body, signed(body));
      answers.put(currency, r.statusCode() + " " + r.bodyAsJsonObject().getString("error"));
    }
    String rule = "400 data.object.currency must be a three-letter ISO 4217 code such as \"usd\", got ";
    assertThat(answers).containsExactly(Map.entry("\"\"", rule + "\"\""),
        Map.entry("\"usdollar\"", rule + "\"usdollar\""), Map.entry("840", rule + "840"),
        Map.entry("null", rule + "null"));
    assertThat(unappliedListed()).isEmpty();
    assertThat(ledger()).isEmpty();
  }

  @Test
  void theRouteNeedsNoAdminTokenAndIsNotServedWithoutASecret() throws Exception {
    daemon.close();
    daemon = new RunningDaemon(java.nio.file.Files.createDirectories(tmp.resolve("off")), repo, clock, "", Map.of());
    String body = succeeded("evt_1", CUSTOMER, "1999");
    HttpResponse<Buffer> r = deliver(body, signed(body));
    assertThat(r.statusCode()).isEqualTo(404);
    assertThat(r.bodyAsJsonObject()).isEqualTo(new JsonObject().put("error",
        "no such endpoint: POST /webhooks/payments"));
  }
}
