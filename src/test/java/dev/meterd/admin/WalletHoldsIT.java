package dev.meterd.admin;

import static dev.meterd.testing.UsageRepo.batch;
import static dev.meterd.testing.UsageRepo.record;
import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.ledger.Hold;
import dev.meterd.ledger.SqliteLedger;
import dev.meterd.policy.CreditRules;
import dev.meterd.testing.MutableClock;
import dev.meterd.testing.RunningDaemon;
import dev.meterd.testing.UsageRepo;
import io.vertx.core.MultiMap;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.client.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.jsoup.nodes.Document;
import org.jsoup.nodes.Element;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The wallet page's holds on the real server, in EUR, with enforcement on and a clock the test
 * moves: the active holds listed with what they hold against the balance, and the Release button,
 * which releases as {@code DELETE /v1/holds/{id}} does, attributed to the admin who clicked it.
 */
class WalletHoldsIT {

  private static final String NOW = "2026-11-21T12:00:00Z";

  @TempDir
  Path tmp;

  private final MutableClock clock = new MutableClock(Instant.parse(NOW));
  private UsageRepo repo;
  private RunningDaemon daemon;
  private PageSession session;

  @BeforeEach
  void setUp() throws Exception {
    repo = new UsageRepo(tmp.resolve("usage.git"));
    // The branch exists from the start, so that the run at start succeeds with no node yet.
    repo.commit("README", "usage of the wallet holds test\n");
    daemon = new RunningDaemon(tmp, repo, clock, "", "[billing]\ncurrency = \"EUR\"\n[enforcement]\nenabled = true\n",
        null);
    daemon.awaitStartRun(0);
    session = new PageSession(daemon, RunningDaemon.ALICE_TOKEN);
  }

  @AfterEach
  void tearDown() throws Exception {
    daemon.close();
    repo.close();
  }

  private Document page(String user) throws Exception {
    return session.get(WalletPage.path(user));
  }

  /** The rows of the holds table. */
  private static List<String> rows(Document page) {
    return page.select("#holds tbody tr").eachText();
  }

  /** The line of balance, held and available above the table. */
  private static String summary(Document page) {
    return page.selectFirst("#holds-summary").text();
  }

  /** A hold placed by the gateway token; answers its id. */
  private long hold(String user, long cents, String node, String key, long ttlSeconds) throws Exception {
    HttpResponse<Buffer> r = RunningDaemon.get(daemon.request("POST", "/v1/holds", RunningDaemon.GATEWAY_TOKEN)
        .sendJsonObject(new JsonObject().put("user_sid", user).put("amount_cents", cents).put("node", node)
            .put("idempotency_key", key).put("ttl_seconds", ttlSeconds)));
    assertThat(r.statusCode()).as(r.bodyAsString()).isEqualTo(200);
    return r.bodyAsJsonObject().getLong("hold_id");
  }

  private JsonObject authorize(String user) throws Exception {
    HttpResponse<Buffer> r = daemon.call("GET", "/v1/authorize/" + user, RunningDaemon.GATEWAY_TOKEN);
    assertThat(r.statusCode()).as(r.bodyAsString()).isEqualTo(200);
    return r.bodyAsJsonObject();
  }

  /** The Release form of the hold's row, as a browser would post it. */
  private static MultiMap releaseForm(Document page, long holdId) {
    Element input = page.selectFirst("#holds form input[name=hold_id][value=" + holdId + "]");
    assertThat(input).as("a Release button for hold " + holdId).isNotNull();
    assertThat(input.parent().attr("action")).isEqualTo("/admin/ui/users/u1/holds/release");
    assertThat(input.parent().attr("method")).isEqualTo("post");
    return MultiMap.caseInsensitiveMultiMap().add("hold_id", input.val());
  }

  /** Posts a Release form from the pages' own origin and answers the notice its redirect carries. */
  private String release(String user, MultiMap form) throws Exception {
    return session.submit(WalletPage.path(user) + "/holds/release", form, WalletPage.path(user));
  }

  /** The hold as the ledger holds it, read on a connection of the test's own. */
  private Hold stored(long holdId) {
    try (SqliteLedger ledger = SqliteLedger.open(daemon.dbFile(), clock, SqliteLedger.DEFAULT_BUSY_TIMEOUT_MS, CreditRules.DEFAULT, "EUR")) {
      return ledger.holds().hold(holdId).orElseThrow();
    }
  }

  @Test
  void listsExactlyTheActiveHoldsNewestFirstWithWhatTheyHoldAgainstTheBalance() throws Exception {
    daemon.grant("u1", 1_000);
    daemon.grant("u2", 500);
    long kept = hold("u1", 200, "A", "k1", 300);
    long expiring = hold("u1", 150, "A", "k2", 60);
    long newest = hold("u1", 100, "B", "k3", 600);
    long settled = hold("u1", 50, "A", "k4", 300);
    long others = hold("u2", 300, "A", "k5", 300);
    assertThat(page("u1").select("#holds tbody tr")).hasSize(4);

    // k4's record settles its hold, charged its own cost; then the clock passes k2's minute.
    repo.commit("nodes/A/" + UsageRepo.HOUR_10, batch(record("k4", "u1", 70)));
    assertThat(daemon.json("POST", "/admin/aggregate-now").getInteger("records_consumed")).isEqualTo(1);
    clock.advance(Duration.ofSeconds(61));

    Document doc = page("u1");
    assertThat(rows(doc)).containsExactly(
        newest + " €1.00 B k3 gateway " + NOW + " 2026-11-21T12:10:00Z Release",
        kept + " €2.00 A k1 gateway " + NOW + " 2026-11-21T12:05:00Z Release");
    assertThat(summary(doc)).isEqualTo("Balance €9.30 · held €3.00 by 2 active holds · available €6.30");
    assertThat(doc.select("#holds-limited")).isEmpty();
    assertThat(authorize("u1").getLong("available_cents")).isEqualTo(630);
    assertThat(stored(expiring).stateAt(clock.instant())).isEqualTo("expired");
    assertThat(stored(settled).state()).isEqualTo(Hold.State.SETTLED);

    // Another wallet's page lists its own hold only.
    assertThat(rows(page("u2")))
        .containsExactly(others + " €3.00 A k5 gateway " + NOW + " 2026-11-21T12:05:00Z Release");
  }

  @Test
  void aWalletWithoutActiveHoldsSaysSo() throws Exception {
    daemon.grant("u1", 1_000);
    Document doc = page("u1");
    assertThat(rows(doc)).containsExactly("No active holds.");
    assertThat(summary(doc)).isEqualTo("Balance €10.00 · held €0.00 by 0 active holds · available €10.00");
  }

  @Test
  void listsTheNewestHundredAndSaysHowManyThereAre() throws Exception {
    daemon.grant("u1", 10_000);
    for (int i = 1; i <= 101; i++) {
      hold("u1", 10, "A", "k" + i, 300);
    }
    Document doc = page("u1");
    assertThat(doc.select("#holds tbody tr")).hasSize(100);
    assertThat(doc.select("#holds tbody tr").first().child(0).text()).isEqualTo("101");
    assertThat(doc.select("#holds tbody tr").last().child(0).text()).isEqualTo("2");
    assertThat(doc.selectFirst("#holds-limited").text()).isEqualTo("The newest 100 of 101 active holds are shown.");
    assertThat(summary(doc)).isEqualTo("Balance €100.00 · held €10.10 by 101 active holds · available €89.90");
  }

  @Test
  void theReleaseButtonReleasesTheHoldAsTheAdminAndOnlyOnce() throws Exception {
    daemon.grant("u1", 1_000);
    long id = hold("u1", 400, "A", "k1", 300);
    Document doc = page("u1");
    assertThat(summary(doc)).isEqualTo("Balance €10.00 · held €4.00 by 1 active hold · available €6.00");
    HttpResponse<Buffer> refused = daemon.call("GET", "/v1/authorize/u1?cost_cents=1000", RunningDaemon.GATEWAY_TOKEN);
    assertThat(refused.statusCode()).isEqualTo(402);
    MultiMap form = releaseForm(doc, id);

    assertThat(release("u1", form))
        .isEqualTo("Hold " + id + " of €4.00 (node A, key k1) released by alice; €10.00 is available now.");
    assertThat(authorize("u1?cost_cents=1000").getLong("available_cents")).isEqualTo(1_000);
    Hold released = stored(id);
    assertThat(released.state()).isEqualTo(Hold.State.RELEASED);
    assertThat(released.releasedBy()).isEqualTo("alice");
    assertThat(released.endedAt()).isEqualTo(Instant.parse(NOW));
    Document after = page("u1");
    assertThat(rows(after)).containsExactly("No active holds.");
    assertThat(summary(after)).isEqualTo("Balance €10.00 · held €0.00 by 0 active holds · available €10.00");

    // The same form again (a double click, a reload that posts again): the hold stays as it was.
    clock.advance(Duration.ofSeconds(5));
    assertThat(release("u1", form)).isEqualTo("Hold " + id + " was released before, by alice at " + NOW
        + "; nothing more was released.");
    assertThat(stored(id)).isEqualTo(released);
  }

  @Test
  void aHoldThatEndedOrIsAnotherWalletsIsNotReleasedAndTheNoticeSaysWhy() throws Exception {
    daemon.grant("u1", 1_000);
    daemon.grant("u2", 1_000);
    long settling = hold("u1", 100, "A", "k1", 300);
    long expiring = hold("u1", 150, "A", "k2", 60);
    long others = hold("u2", 200, "A", "k3", 300);
    Document doc = page("u1");
    MultiMap settleForm = releaseForm(doc, settling);
    MultiMap expireForm = releaseForm(doc, expiring);

    repo.commit("nodes/A/" + UsageRepo.HOUR_10, batch(record("k1", "u1", 80)));
    assertThat(daemon.json("POST", "/admin/aggregate-now").getInteger("records_consumed")).isEqualTo(1);
    assertThat(release("u1", settleForm)).isEqualTo("Hold " + settling + " was settled at " + NOW
        + ", when its record k1 of node A was consumed; there is nothing to release.");
    assertThat(stored(settling).state()).isEqualTo(Hold.State.SETTLED);

    // Expired after the page was shown: it held nothing already, and is marked released as the API would.
    clock.advance(Duration.ofSeconds(60));
    assertThat(release("u1", expireForm)).isEqualTo("Hold " + expiring + " of €1.50 (node A, key k2) had expired "
        + "at 2026-11-21T12:01:00Z and held nothing; it is marked released by alice.");
    assertThat(stored(expiring).releasedBy()).isEqualTo("alice");

    MultiMap othersForm = MultiMap.caseInsensitiveMultiMap().add("hold_id", Long.toString(others));
    assertThat(release("u1", othersForm))
        .isEqualTo("No hold " + others + " on the wallet of u1; nothing was released.");
    assertThat(release("u1", MultiMap.caseInsensitiveMultiMap().add("hold_id", "999")))
        .isEqualTo("No hold 999 on the wallet of u1; nothing was released.");
    assertThat(release("u1", MultiMap.caseInsensitiveMultiMap().add("hold_id", "x")))
        .isEqualTo("Nothing was released: a hold's id is a whole number, got \"x\".");
    assertThat(stored(others).state()).isEqualTo(Hold.State.ACTIVE);

    HttpResponse<Buffer> cross = session.post(WalletPage.path("u2") + "/holds/release", othersForm,
        "http://evil.example");
    assertThat(cross.statusCode()).isEqualTo(403);
    assertThat(cross.bodyAsJsonObject().getString("error"))
        .isEqualTo("cross-origin request refused: a form post must come from the admin pages' own origin");
    assertThat(stored(others).state()).isEqualTo(Hold.State.ACTIVE);
    assertThat(authorize("u2").getLong("available_cents")).isEqualTo(800);
  }
}
