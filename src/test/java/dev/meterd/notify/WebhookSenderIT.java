package dev.meterd.notify;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A receiver that sends its answer's headers and then stalls in the body: the attempt ends after
 * twice the timeout, with what arrived, instead of holding the worker (and every later event).
 */
class WebhookSenderIT {

  private static final String SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

  private ServerSocket server;
  private Thread acceptor;
  private final CountDownLatch done = new CountDownLatch(1);

  /** Answers every request with {@code head} and the start of a body it never finishes. */
  private void stallAfter(String head, String bodyStart) throws IOException {
    server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    acceptor = new Thread(() -> {
      try (Socket s = server.accept()) {
        InputStream in = s.getInputStream();
        in.readNBytes(in.available());
        OutputStream out = s.getOutputStream();
        out.write((head + "\r\n\r\n" + bodyStart).getBytes(StandardCharsets.US_ASCII));
        out.flush();
        done.await();
      } catch (IOException | InterruptedException ignored) {
        // The test is over.
      }
    }, "stalling-receiver");
    acceptor.setDaemon(true);
    acceptor.start();
  }

  @BeforeEach
  void noServerYet() {
    server = null;
  }

  @AfterEach
  void stop() throws IOException {
    done.countDown();
    if (server != null) {
      server.close();
    }
  }

  private WebhookSender.Outcome send() {
    WebhookSender sender = new WebhookSender(URI.create("http://127.0.0.1:" + server.getLocalPort() + "/hook"),
        WebhookSigner.fromSecret(SECRET), Duration.ofSeconds(1));
    // Generous: the attempt's own bound is 2 s; without one it would wait forever.
    return assertTimeoutPreemptively(Duration.ofSeconds(60), () -> sender.send("evt_1", "{}", 1_700_000_000L));
  }

  @Test
  void aRefusalWhoseBodyStallsEndsTheAttemptAfterTwiceTheTimeout() throws IOException {
    stallAfter("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 100000", "over");
    assertThat(send()).isEqualTo(new WebhookSender.Failed("the receiver at http://127.0.0.1:" + server.getLocalPort()
        + " did not finish its answer within 2 s", null));
  }

  @Test
  void aSuccessIsDeliveredWithoutWaitingForItsBody() throws IOException {
    stallAfter("HTTP/1.1 200 OK\r\nContent-Length: 100000", "fine");
    assertThat(send()).isEqualTo(new WebhookSender.Delivered(200));
  }

  @Test
  void aRefusalKeepsOnlyTheStartOfALongBody() throws IOException {
    String longBody = "x".repeat(10_000);
    stallAfter("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 1000000", longBody);
    assertThat(send()).isEqualTo(new WebhookSender.Failed("the receiver at http://127.0.0.1:" + server.getLocalPort()
        + " answered HTTP 503: " + "x".repeat(WebhookSender.MAX_BODY_CHARS) + "…", 503));
  }
}
