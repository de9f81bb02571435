package dev.meterd.admin;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.testing.RunningDaemon;
import dev.meterd.testing.UsageRepo;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpRequest;
import io.vertx.ext.web.client.HttpResponse;
import io.vertx.ext.web.client.WebClient;
import io.vertx.ext.web.client.WebClientOptions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.jsoup.Jsoup;
import org.jsoup.nodes.Element;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Top-ups and refunds on the real server: credited once per payment_id, whoever sends it again
 * and however many at once; the same payment_id as another payment is 409 and credits nothing.
 */
class PaymentsIT {

  private static final String TOPUP = "/admin/wallets/u1/topup";
  private static final JsonObject BODY = new JsonObject().put("amount_cents", 500).put("payment_id", "pi_1")
      .put("note", "card");

  @TempDir
  Path tmp;

  private UsageRepo repo;
  private RunningDaemon daemon;
  private final Vertx vertx = Vertx.vertx();
  /** Twenty connections, so that twenty requests are in flight at once. */
  private final WebClient wide = WebClient.create(vertx, new WebClientOptions().setDefaultHost("127.0.0.1"),
      new PoolOptions().setHttp1MaxSize(20));

  @BeforeEach
  void setUp() throws Exception {
    repo = new UsageRepo(tmp.resolve("usage.git"));
    daemon = new RunningDaemon(tmp, repo);
  }

  @AfterEach
  void tearDown() throws Exception {
    daemon.close();
    repo.close();
    wide.close();
    RunningDaemon.get(vertx.close());
  }

  private HttpRequest<Buffer> post(String path, String key) {
    return daemon.post(wide, path, key);
  }

  private HttpResponse<Buffer> send(String path, JsonObject body) throws Exception {
    return RunningDaemon.get(post(path, null).sendJsonObject(body));
  }

  private HttpResponse<Buffer> send(String path, String key, JsonObject body) throws Exception {
    return RunningDaemon.get(post(path, key).sendJsonObject(body));
  }

  private JsonArray ledger() throws Exception {
    return daemon.transactions("/admin/list-billing?limit=500");
  }

  @Test
  void theSameTopUpTwiceCreditsOnceAndAnswersTheSameTransaction() throws Exception {
    HttpResponse<Buffer> first = send(TOPUP, BODY);
    assertThat(first.statusCode()).as(first.bodyAsString()).isEqualTo(200);
    assertThat(first.getHeader(IdempotencyKey.REPLAYED_HEADER)).isNull();
    JsonObject txn = first.bodyAsJsonObject();
    assertThat(txn.copy().put("occurred_at", "?")).isEqualTo(new JsonObject().put("txn_id", 1).put("user_sid", "u1")
        .put("type", "topup").put("amount_cents", 500).put("occurred_at", "?").put("initiated_by", "alice")
        .putNull("source").put("note", "card").put("payment_id", "pi_1"));

    HttpResponse<Buffer> again = send(TOPUP, BODY);
    assertThat(again.statusCode()).isEqualTo(200);
    assertThat(again.bodyAsString()).isEqualTo(first.bodyAsString());
    assertThat(again.getHeader(IdempotencyKey.REPLAYED_HEADER)).isEqualTo("true");
    // Another note, another admin: the same payment, so its transaction, as first recorded.
    HttpResponse<Buffer> byAdmin = RunningDaemon.get(daemon.request("POST", TOPUP, RunningDaemon.ADMIN_TOKEN)
        .sendJsonObject(BODY.copy().put("note", "retried")));
    assertThat(byAdmin.bodyAsString()).isEqualTo(first.bodyAsString());

    assertThat(daemon.balance("u1")).isEqualTo(500);
    assertThat(ledger()).hasSize(1);
    JsonArray payments = daemon.transactions("/admin/list-payments");
    assertThat(payments).hasSize(1);
    assertThat(payments.getJsonObject(0)).isEqualTo(txn);
  }

  /**
   * A payment credited before, sent again under a new Idempotency-Key, is answered as the payment
   * sent again is, marked as a replay: it was answered as newly applied (review finding). Its key
   * keeps that answer.
   */
  @Test
  void aTopUpCreditedBeforeSentAgainUnderANewKeyIsAnsweredAsAReplay() throws Exception {
    HttpResponse<Buffer> first = send(TOPUP, BODY);
    assertThat(first.statusCode()).as(first.bodyAsString()).isEqualTo(200);
    assertThat(first.getHeader(IdempotencyKey.REPLAYED_HEADER)).isNull();

    HttpResponse<Buffer> newKey = send(TOPUP, "key-new", BODY);
    assertThat(newKey.statusCode()).as(newKey.bodyAsString()).isEqualTo(200);
    assertThat(newKey.bodyAsString()).isEqualTo(first.bodyAsString());
    assertThat(newKey.getHeader(IdempotencyKey.REPLAYED_HEADER)).isEqualTo("true");
    HttpResponse<Buffer> sameKey = send(TOPUP, "key-new", BODY);
    assertThat(sameKey.bodyAsString()).isEqualTo(first.bodyAsString());
    assertThat(sameKey.getHeader(IdempotencyKey.REPLAYED_HEADER)).isEqualTo("true");

    // The other way round: credited under a key, then sent without one or under another.
    HttpResponse<Buffer> keyed = send("/admin/wallets/u2/refund", "key-r", BODY.copy().put("payment_id", "re_1"));
    assertThat(keyed.statusCode()).as(keyed.bodyAsString()).isEqualTo(200);
    assertThat(keyed.getHeader(IdempotencyKey.REPLAYED_HEADER)).isNull();
    for (String key : new String[] {null, "key-r2"}) {
      HttpResponse<Buffer> again = send("/admin/wallets/u2/refund", key, BODY.copy().put("payment_id", "re_1"));
      assertThat(again.bodyAsString()).as(key).isEqualTo(keyed.bodyAsString());
      assertThat(again.getHeader(IdempotencyKey.REPLAYED_HEADER)).as(key).isEqualTo("true");
    }
    assertThat(daemon.balance("u1")).isEqualTo(500);
    assertThat(daemon.balance("u2")).isEqualTo(500);
    assertThat(ledger()).hasSize(2);
  }

  @Test
  void twentyConcurrentTopUpsWithOnePaymentIdCreditOnceWithOrWithoutTheirOwnIdempotencyKeys() throws Exception {
    List<Future<HttpResponse<Buffer>>> calls = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      calls.add(post(TOPUP, i % 2 == 0 ? null : "key-" + i).sendJsonObject(BODY));
    }
    Set<String> bodies = new HashSet<>();
    for (Future<HttpResponse<Buffer>> call : calls) {
      HttpResponse<Buffer> r = RunningDaemon.get(call);
      assertThat(r.statusCode()).as(r.bodyAsString()).isEqualTo(200);
      bodies.add(r.bodyAsString());
    }
    assertThat(bodies).hasSize(1);
    JsonObject txn = new JsonObject(bodies.iterator().next());
    assertThat(txn.getString("payment_id")).isEqualTo("pi_1");
    assertThat(txn.getLong("amount_cents")).isEqualTo(500);
    assertThat(daemon.balance("u1")).isEqualTo(500);
    assertThat(ledger()).hasSize(1);
    assertThat(ledger().getJsonObject(0).getLong("txn_id")).isEqualTo(txn.getLong("txn_id"));
    // Each key is kept with the one answer: sent again, it replays it.
    HttpResponse<Buffer> replay = send(TOPUP, "key-1", BODY);
    assertThat(replay.getHeader(IdempotencyKey.REPLAYED_HEADER)).isEqualTo("true");
    assertThat(replay.bodyAsString()).isEqualTo(txn.encode());
  }

  @Test
  void thePaymentIdOfAnotherAmountTypeOrUserIs409AndCreditsNothing() throws Exception {
    assertThat(send(TOPUP, BODY).statusCode()).isEqualTo(200);
    String before = "payment_id \"pi_1\" was recorded before as a topup of 500 cents to wallet u1 (transaction 1), "
        + "so this ";
    String after = " was not applied; send a new payment_id for a new payment";
    Map<String, String> expected = new LinkedHashMap<>();
    Map<String, String> answered = new LinkedHashMap<>();
    expected.put("amount", "409 " + new JsonObject().put("error", before + "topup of 700 cents to wallet u1" + after));
    HttpResponse<Buffer> amount = send(TOPUP, BODY.copy().put("amount_cents", 700));
    answered.put("amount", amount.statusCode() + " " + amount.bodyAsString());
    expected.put("type", "409 " + new JsonObject().put("error", before + "refund of 500 cents to wallet u1" + after));
    HttpResponse<Buffer> type = send("/admin/wallets/u1/refund", BODY);
    answered.put("type", type.statusCode() + " " + type.bodyAsString());
    expected.put("user", "409 " + new JsonObject().put("error", before + "topup of 500 cents to wallet u2" + after));
    HttpResponse<Buffer> user = send("/admin/wallets/u2/topup", BODY);
    answered.put("user", user.statusCode() + " " + user.bodyAsString());
    assertThat(answered).isEqualTo(expected);

    assertThat(daemon.balance("u1")).isEqualTo(500);
    assertThat(daemon.call("GET", "/admin/wallets/u2", RunningDaemon.ADMIN_TOKEN).statusCode()).isEqualTo(404);
    assertThat(ledger()).hasSize(1);
  }

  @Test
  void aConflictUnderAnIdempotencyKeyKeepsNeitherTheKeyNorACredit() throws Exception {
    assertThat(send(TOPUP, BODY).statusCode()).isEqualTo(200);
    HttpResponse<Buffer> conflict = send(TOPUP, "k-1", BODY.copy().put("amount_cents", 700));
    assertThat(conflict.statusCode()).isEqualTo(409);
    // The key was not spent on the refused request: with a new payment it is applied.
    JsonObject next = BODY.copy().put("amount_cents", 700).put("payment_id", "pi_2");
    HttpResponse<Buffer> applied = send(TOPUP, "k-1", next);
    assertThat(applied.statusCode()).isEqualTo(200);
    assertThat(applied.getHeader(IdempotencyKey.REPLAYED_HEADER)).isNull();
    assertThat(applied.bodyAsJsonObject().getString("payment_id")).isEqualTo("pi_2");
    HttpResponse<Buffer> reused = send(TOPUP, "k-1", next.copy().put("payment_id", "pi_3"));
    assertThat(reused.statusCode()).isEqualTo(422);
    assertThat(reused.bodyAsJsonObject().getString("error")).isEqualTo(IdempotencyKey.reusedMessage("k-1"));
    assertThat(daemon.balance("u1")).isEqualTo(1_200);
  }

  @Test
  void aRefundIsACreditAttributedToTheToken() throws Exception {
    HttpResponse<Buffer> r = send("/admin/wallets/u1/refund", new JsonObject().put("amount_cents", 120)
        .put("payment_id", "re_1"));
    assertThat(r.statusCode()).isEqualTo(200);
    JsonObject txn = r.bodyAsJsonObject();
    assertThat(List.of(txn.getString("type"), txn.getLong("amount_cents"), txn.getString("initiated_by"),
        txn.getString("payment_id"), String.valueOf(txn.getString("note")))).containsExactly("refund", 120L, "alice",
            "re_1", "null");
    assertThat(daemon.balance("u1")).isEqualTo(120);
  }

  @Test
  void refusesABodyWithoutAValidPaymentIdOrAmountAndCreditsNothing() throws Exception {
    String idRule = "payment_id must be a string of 1 to 200 printable ASCII characters, not starting or ending "
        + "with a space; it names the payment, so that the payment sent again is credited once";
    Map<String, String> expected = new LinkedHashMap<>();
    Map<String, String> answered = new LinkedHashMap<>();
    Map<String, JsonObject> bodies = new LinkedHashMap<>();
    bodies.put("no payment_id", new JsonObject().put("amount_cents", 5));
    bodies.put("empty payment_id", new JsonObject().put("amount_cents", 5).put("payment_id", ""));
    bodies.put("numeric payment_id", new JsonObject().put("amount_cents", 5).put("payment_id", 12));
    bodies.put("long payment_id", new JsonObject().put("amount_cents", 5).put("payment_id", "p".repeat(201)));
    bodies.put("padded payment_id", new JsonObject().put("amount_cents", 5).put("payment_id", " pi_1"));
    bodies.put("fraction", new JsonObject().put("amount_cents", 5.0).put("payment_id", "pi_1"));
    bodies.put("over max", new JsonObject().put("amount_cents", RunningDaemon.MAX_GRANT_CENTS + 1)
        .put("payment_id", "pi_1"));
    for (Map.Entry<String, JsonObject> body : bodies.entrySet()) {
      HttpResponse<Buffer> r = send(TOPUP, body.getValue());
      answered.put(body.getKey(), r.statusCode() + " " + r.bodyAsJsonObject().getString("error"));
      expected.put(body.getKey(), "400 " + idRule);
    }
    expected.put("fraction", "400 amount_cents must be an integer from 1 to 10000 (whole cents, without a fraction "
        + "or exponent), got 5.0");
    expected.put("over max", "400 amount_cents must be an integer from 1 to 10000 (whole cents, without a fraction "
        + "or exponent), got 10001");
    assertThat(answered).isEqualTo(expected);
    HttpResponse<Buffer> notJson = RunningDaemon.get(post(TOPUP, null).putHeader("Content-Type", "application/json")
        .sendBuffer(Buffer.buffer("[1]")));
    assertThat(notJson.statusCode()).isEqualTo(400);
    assertThat(notJson.bodyAsJsonObject().getString("error")).isEqualTo(
        "the body must be a JSON object {\"amount_cents\": N, \"payment_id\": \"...\", \"note\": \"...\"}");
    assertThat(daemon.call("GET", "/admin/wallets/u1", RunningDaemon.ADMIN_TOKEN).statusCode()).isEqualTo(404);
  }

  @Test
  void listPaymentsAndThePaymentsPageShowGrantsTopUpsAndRefundsWithTheirPaymentIds() throws Exception {
    assertThat(send("/admin/wallets/u1/grant", new JsonObject().put("amount_cents", 100)).statusCode()).isEqualTo(200);
    assertThat(send(TOPUP, BODY).statusCode()).isEqualTo(200);
    assertThat(send("/admin/wallets/u2/refund", new JsonObject().put("amount_cents", 30).put("payment_id", "re_<b>"))
        .statusCode()).isEqualTo(200);
    JsonArray payments = daemon.transactions("/admin/list-payments");
    List<String> listed = new ArrayList<>();
    for (Object p : payments) {
      listed.add(((JsonObject) p).getString("type") + " " + ((JsonObject) p).getString("payment_id"));
    }
    assertThat(listed).containsExactly("refund re_<b>", "topup pi_1", "grant null");

    HttpResponse<Buffer> page = daemon.call("GET", "/admin/ui/payments", RunningDaemon.ALICE_TOKEN);
    assertThat(page.statusCode()).isEqualTo(200);
    List<String> rows = new ArrayList<>();
    for (Element row : Jsoup.parse(page.bodyAsString()).select("#payments tbody tr")) {
      rows.add(row.select("td").get(2).text() + " " + row.select("td").get(3).text() + " "
          + row.select("td").get(6).text());
    }
    assertThat(rows).containsExactly("refund $0.30 re_<b>", "topup $5.00 pi_1", "grant $1.00 ");
    assertThat(page.bodyAsString()).contains("re_&lt;b&gt;").doesNotContain("re_<b>");
  }
}
