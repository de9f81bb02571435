package dev.meterd.admin;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.testing.MutableClock;
import dev.meterd.testing.RunningDaemon;
import dev.meterd.testing.UsageRepo;
import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpRequest;
import io.vertx.ext.web.client.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Idempotency-Key of money-moving requests on the real server (and the command line beside
 * it, on one database): the same key with the same request answers the stored response and
 * credits nothing more; with another request it is 422.
 */
class IdempotencyIT {

  private static final String KEY = "grant-2026-11-30-u1";
  private static final String GRANT = "/admin/wallets/u1/grant";
  private static final JsonObject BODY = new JsonObject().put("amount_cents", 250).put("note", "welcome");

  @TempDir
  Path tmp;

  private UsageRepo repo;
  private RunningDaemon daemon;

  @BeforeEach
  void setUp() throws Exception {
    repo = new UsageRepo(tmp.resolve("usage.git"));
  }

  @AfterEach
  void tearDown() throws Exception {
    if (daemon != null) {
      daemon.close();
    }
    repo.close();
  }

  private void start(Clock clock) throws Exception {
    daemon = new RunningDaemon(tmp, repo, clock, "");
  }

  private HttpRequest<Buffer> grant(String path, String key) {
    HttpRequest<Buffer> r = daemon.request("POST", path, RunningDaemon.ALICE_TOKEN);
    return key == null ? r : r.putHeader(IdempotencyKey.HEADER, key);
  }

  private HttpResponse<Buffer> send(String path, String key, JsonObject body) throws Exception {
    return RunningDaemon.get(grant(path, key).sendJsonObject(body));
  }

  private long balance(String user) throws Exception {
    return daemon.balance(user);
  }

  private JsonArray payments() throws Exception {
    return daemon.transactions("/admin/list-payments?limit=500");
  }

  @Test
  void twentyConcurrentGrantsWithOneKeyCreditOnceAndAllAnswerTheSameTransaction() throws Exception {
    start(Clock.systemUTC());
    List<Future<HttpResponse<Buffer>>> calls = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      calls.add(grant(GRANT, KEY).sendJsonObject(BODY));
    }
    Set<String> bodies = new HashSet<>();
    int replays = 0;
    for (Future<HttpResponse<Buffer>> call : calls) {
      HttpResponse<Buffer> r = RunningDaemon.get(call);
      assertThat(r.statusCode()).as(r.bodyAsString()).isEqualTo(200);
      bodies.add(r.bodyAsString());
      replays += "true".equals(r.getHeader(IdempotencyKey.REPLAYED_HEADER)) ? 1 : 0;
    }
    assertThat(bodies).hasSize(1);
    JsonObject txn = new JsonObject(bodies.iterator().next());
    assertThat(txn.getLong("amount_cents")).isEqualTo(250);
    assertThat(txn.getString("initiated_by")).isEqualTo("alice");
    assertThat(txn.getString("note")).isEqualTo("welcome");
    assertThat(replays).as("every answer but the first is a replay").isEqualTo(19);
    assertThat(balance("u1")).isEqualTo(250);
    assertThat(payments()).hasSize(1);
    assertThat(payments().getJsonObject(0).getLong("txn_id")).isEqualTo(txn.getLong("txn_id"));
  }

  @Test
  void theSameKeyWithAnotherRequestIsRefusedWith422AndCreditsNothing() throws Exception {
    start(Clock.systemUTC());
    HttpResponse<Buffer> first = send(GRANT, KEY, BODY);
    assertThat(first.statusCode()).isEqualTo(200);
    assertThat(first.getHeader(IdempotencyKey.REPLAYED_HEADER)).isNull();

    Map<String, HttpResponse<Buffer>> others = new LinkedHashMap<>();
    others.put("another amount", send(GRANT, KEY, BODY.copy().put("amount_cents", 251)));
    others.put("another note", send(GRANT, KEY, BODY.copy().put("note", "welcome!")));
    others.put("no note", send(GRANT, KEY, BODY.copy().putNull("note")));
    others.put("another user", send("/admin/wallets/u2/grant", KEY, BODY));
    for (Map.Entry<String, HttpResponse<Buffer>> other : others.entrySet()) {
      assertThat(other.getValue().statusCode()).as(other.getKey()).isEqualTo(422);
      assertThat(other.getValue().bodyAsJsonObject()).as(other.getKey()).isEqualTo(new JsonObject().put("error",
          "the Idempotency-Key \"" + KEY + "\" was used before with another request (another method, path or "
              + "body), so this one was not applied; send a new key for a new request"));
    }
    // The same request again, its JSON written differently: the same request, so the first answer.
    HttpResponse<Buffer> again = RunningDaemon.get(grant(GRANT, KEY)
        .putHeader("Content-Type", "application/json")
        .sendBuffer(Buffer.buffer("{ \"note\" : \"welcome\",\n  \"amount_cents\" : 250 }")));
    assertThat(again.statusCode()).isEqualTo(200);
    assertThat(again.bodyAsString()).isEqualTo(first.bodyAsString());
    assertThat(again.getHeader(IdempotencyKey.REPLAYED_HEADER)).isEqualTo("true");
    assertThat(balance("u1")).isEqualTo(250);
    assertThat(daemon.call("GET", "/admin/wallets/u2", RunningDaemon.ADMIN_TOKEN).statusCode()).isEqualTo(404);

    // Without a key every grant is its own, as before.
    assertThat(send(GRANT, null, BODY).statusCode()).isEqualTo(200);
    assertThat(send(GRANT, null, BODY).statusCode()).isEqualTo(200);
    assertThat(balance("u1")).isEqualTo(750);
  }

  @Test
  void aKeyIsOneTo200PrintableAsciiCharactersOr400() throws Exception {
    start(Clock.systemUTC());
    String problem = "the Idempotency-Key header must be 1 to 200 printable ASCII characters, not starting or "
        + "ending with a space";
    Map<String, String> expected = new LinkedHashMap<>();
    Map<String, String> answered = new LinkedHashMap<>();
    for (String bad : List.of("", "k".repeat(201), "tab\there", "caf\u00e9")) {
      expected.put(bad, "400 " + problem);
      HttpResponse<Buffer> r = send(GRANT, bad, BODY);
      answered.put(bad, r.statusCode() + " " + r.bodyAsJsonObject().getString("error"));
    }
    assertThat(answered).isEqualTo(expected);
    HttpRequest<Buffer> twoKeys = grant(GRANT, "k1");
    twoKeys.headers().add(IdempotencyKey.HEADER, "k2");
    HttpResponse<Buffer> twice = RunningDaemon.get(twoKeys.sendJsonObject(BODY));
    assertThat(twice.statusCode()).isEqualTo(400);
    assertThat(twice.bodyAsJsonObject().getString("error"))
        .isEqualTo("send the Idempotency-Key header once, not 2 times");
    assertThat(daemon.call("GET", "/admin/wallets/u1", RunningDaemon.ADMIN_TOKEN).statusCode()).isEqualTo(404);

    String longest = "k".repeat(199) + "~";
    assertThat(send(GRANT, longest, BODY).statusCode()).isEqualTo(200);
    assertThat(send(GRANT, longest, BODY).getHeader(IdempotencyKey.REPLAYED_HEADER)).isEqualTo("true");
    assertThat(send(GRANT, "a key with spaces !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}", BODY).statusCode()).isEqualTo(200);
    assertThat(balance("u1")).isEqualTo(500);
  }

  @Test
  void keysAreKeptSevenDaysThenForgotten() throws Exception {
    MutableClock clock = new MutableClock(Instant.parse("2026-11-30T10:00:00Z"));
    start(clock);
    HttpResponse<Buffer> first = send(GRANT, KEY, BODY);
    assertThat(first.statusCode()).isEqualTo(200);

    clock.advance(Duration.ofDays(7));
    HttpResponse<Buffer> weekLater = send(GRANT, KEY, BODY);
    assertThat(weekLater.bodyAsString()).isEqualTo(first.bodyAsString());
    assertThat(weekLater.getHeader(IdempotencyKey.REPLAYED_HEADER)).isEqualTo("true");
    assertThat(balance("u1")).isEqualTo(250);

    clock.advance(Duration.ofMillis(1));
    HttpResponse<Buffer> expired = send(GRANT, KEY, BODY);
    assertThat(expired.statusCode()).isEqualTo(200);
    assertThat(expired.getHeader(IdempotencyKey.REPLAYED_HEADER)).isNull();
    assertThat(expired.bodyAsJsonObject().getLong("txn_id")).isGreaterThan(first.bodyAsJsonObject().getLong("txn_id"));
    assertThat(balance("u1")).isEqualTo(500);
    assertThat(keysStored()).isEqualTo(1);
  }

  private long keysStored() throws Exception {
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + daemon.dbFile());
        Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT count(*) FROM idempotency_key")) {
      rs.next();
      return rs.getLong(1);
    }
  }

  private void sql(String statement) throws Exception {
    try (Connection c = DriverManager.getConnection("jdbc:sqlite:" + daemon.dbFile());
        Statement st = c.createStatement()) {
      st.execute(statement);
    }
  }

  @Test
  void theKeyAndTheCreditAreCommittedTogetherOrNotAtAll() throws Exception {
    start(Clock.systemUTC());
    // The credit is written, then storing its answer under the key fails: the credit goes too.
    sql("CREATE TRIGGER refuse_key BEFORE UPDATE ON idempotency_key BEGIN SELECT RAISE(ABORT, 'disk says no'); END");
    HttpResponse<Buffer> failed = send(GRANT, KEY, BODY);
    assertThat(failed.statusCode()).isEqualTo(503);
    assertThat(failed.bodyAsJsonObject().getString("error")).contains("disk says no");
    assertThat(daemon.call("GET", "/admin/wallets/u1", RunningDaemon.ADMIN_TOKEN).statusCode()).isEqualTo(404);
    assertThat(keysStored()).isZero();
    sql("DROP TRIGGER refuse_key");

    // The key is claimed, then the credit fails: the key goes too, so a retry is applied.
    sql("CREATE TRIGGER refuse_txn BEFORE INSERT ON ledger_txn BEGIN SELECT RAISE(ABORT, 'disk says no'); END");
    assertThat(send(GRANT, KEY, BODY).statusCode()).isEqualTo(503);
    assertThat(keysStored()).isZero();
    sql("DROP TRIGGER refuse_txn");

    HttpResponse<Buffer> retried = send(GRANT, KEY, BODY);
    assertThat(retried.statusCode()).isEqualTo(200);
    assertThat(retried.getHeader(IdempotencyKey.REPLAYED_HEADER)).isNull();
    assertThat(send(GRANT, KEY, BODY).bodyAsString()).isEqualTo(retried.bodyAsString());
    assertThat(balance("u1")).isEqualTo(250);
    assertThat(keysStored()).isEqualTo(1);
  }

  private Process cliGrant(String amount, String key, Path out, Path err) throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    return new ProcessBuilder(java, "-jar", Path.of("target", "meterd.jar").toAbsolutePath().toString(),
        "wallet", "grant", "u1", amount, "--by", "bob", "--note", "welcome", "--idempotency-key", key,
        "--config", daemon.configFile().toString())
        .redirectOutput(out.toFile()).redirectError(err.toFile()).start();
  }

  @Test
  void aCommandLineProcessAndHttpRequestsWithOneKeyCreditOnceAndAnswerTheSame() throws Exception {
    start(Clock.systemUTC());
    Process cli = cliGrant("250", KEY, tmp.resolve("out"), tmp.resolve("err"));
    // Requests go on for as long as the process lives, so that some are in flight while it grants.
    Set<String> answers = new HashSet<>();
    int requests = 0;
    do {
      List<Future<HttpResponse<Buffer>>> calls = new ArrayList<>();
      for (int i = 0; i < 5; i++) {
        calls.add(grant(GRANT, KEY).sendJsonObject(BODY));
      }
      for (Future<HttpResponse<Buffer>> call : calls) {
        HttpResponse<Buffer> r = RunningDaemon.get(call);
        assertThat(r.statusCode()).as(r.bodyAsString()).isEqualTo(200);
        answers.add(r.bodyAsString());
        requests++;
      }
    } while (cli.isAlive() && requests < 5_000);
    assertThat(cli.waitFor(120, TimeUnit.SECONDS)).isTrue();
    assertThat(cli.exitValue()).as(Files.readString(tmp.resolve("err"))).isZero();
    answers.add(Files.readString(tmp.resolve("out")).strip());
    assertThat(answers).hasSize(1);
    assertThat(new JsonObject(answers.iterator().next()).getString("initiated_by")).isIn("alice", "bob");
    assertThat(balance("u1")).isEqualTo(250);
    assertThat(payments()).hasSize(1);

    Process other = cliGrant("251", KEY, tmp.resolve("out2"), tmp.resolve("err2"));
    assertThat(other.waitFor(120, TimeUnit.SECONDS)).isTrue();
    assertThat(other.exitValue()).isEqualTo(2);
    assertThat(Files.readString(tmp.resolve("out2"))).isEmpty();
    assertThat(Files.readString(tmp.resolve("err2")).strip()).isEqualTo("meterd: idempotency key \"" + KEY
        + "\" was used before with another request (another user, amount or note), so this grant was not applied; "
        + "give a new key for a new grant");
    assertThat(balance("u1")).isEqualTo(250);
  }
}
