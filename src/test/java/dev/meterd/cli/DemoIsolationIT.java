package dev.meterd.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code serve --demo} stays in its own folder whatever the configuration and the environment say:
 * no webhook receiver gets its (signed, real-looking) events, no payment webhook credits its
 * wallets, and production tokens do not open it (review finding: they all did).
 */
class DemoIsolationIT {

  private static final String PROD_TOKEN = "production-token-0123456789";

  @TempDir
  Path tmp;

  @Test
  void theDemoIgnoresTheWebhookReceiverThePaymentSecretAndTheTokensFile() throws Exception {
    Path tokens = Files.writeString(tmp.resolve("tokens"), "ops:" + PROD_TOKEN + "\n");
    Path config = Files.writeString(tmp.resolve("meterd.toml"), """
        [http]
        listen = "127.0.0.1:0"
        [admin]
        tokens_file = "%s"
        [notify]
        webhook_url = "http://127.0.0.1:9/hook"
        """.formatted(tokens));
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    ProcessBuilder pb = new ProcessBuilder(java, "-jar", Path.of("target", "meterd.jar").toAbsolutePath().toString(),
        "serve", "--demo", "--config", config.toString())
        .redirectOutput(tmp.resolve("out").toFile()).redirectError(tmp.resolve("err").toFile());
    pb.environment().put("METERD_WEBHOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    pb.environment().put("METERD_PAYMENT_WEBHOOK_SECRET", "whsec_payment-secret-0123456789");
    Process serve = pb.start();
    try {
      Matcher banner = awaitBanner(serve);
      String base = banner.group(2);
      String demoToken = banner.group(1);
      HttpClient http = HttpClient.newHttpClient();
      assertThat(call(http, base + "/admin/aggregator-state", PROD_TOKEN).statusCode()).isEqualTo(401);
      assertThat(call(http, base + "/admin/aggregator-state", demoToken).statusCode()).isEqualTo(200);
      HttpResponse<String> payment = http.send(HttpRequest.newBuilder(URI.create(base + "/webhooks/payments"))
          .POST(HttpRequest.BodyPublishers.ofString("{}")).build(), HttpResponse.BodyHandlers.ofString());
      assertThat(payment.statusCode()).isEqualTo(404);
      String err = Files.readString(tmp.resolve("err"));
      assertThat(err).contains("meterd demo: METERD_PAYMENT_WEBHOOK_SECRET is ignored: the demo sends and takes no "
          + "real webhooks", "meterd demo: METERD_WEBHOOK_SECRET is ignored: the demo sends and takes no real webhooks",
          "meterd demo: [notify] webhook_url and [admin] tokens_file are ignored: the demo stays in its own folder",
          "no [notify] webhook_url: webhook events are recorded and wait in the outbox");
    } finally {
      serve.destroy();
      assertThat(serve.waitFor(60, TimeUnit.SECONDS)).isTrue();
    }
  }

  private static HttpResponse<String> call(HttpClient http, String url, String token) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create(url)).header("Authorization", "Bearer " + token).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  /** Waits (60 s at most) for the demo's banner: its token and its address. */
  private Matcher awaitBanner(Process serve) throws Exception {
    Pattern pattern = Pattern.compile("admin token ([0-9a-f]+)\\nmeterd demo: open (http://[^/]+)/admin/ui/login");
    Instant deadline = Instant.now().plus(Duration.ofSeconds(60));
    while (Instant.now().isBefore(deadline)) {
      Matcher m = pattern.matcher(Files.readString(tmp.resolve("out")));
      if (m.find()) {
        return m;
      }
      assertThat(serve.isAlive()).as(Files.readString(tmp.resolve("err"))).isTrue();
      Thread.sleep(100);
    }
    throw new AssertionError("no demo banner within 60 s: " + Files.readString(tmp.resolve("err")));
  }
}
