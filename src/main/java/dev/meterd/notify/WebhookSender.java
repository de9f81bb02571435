package dev.meterd.notify;

import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * Posts one signed event to the receiver, blocking the worker's own thread (never an event
 * loop) for at most the connect timeout plus the answer timeout. Redirects are not followed: a
 * signed event goes to the configured address only. The URL is never quoted in an error (its
 * query may carry the receiver's token); its host is.
 */
final class WebhookSender {

  /** Characters of a refusing receiver's answer kept in the error, enough to see why. */
  static final int MAX_BODY_CHARS = 200;

  /** The outcome of one attempt. */
  sealed interface Outcome {}

  /** The receiver answered 2xx. */
  record Delivered(int statusCode) implements Outcome {}

  /**
   * The attempt failed.
   *
   * @param statusCode the receiver's answer, or null when it gave none
   */
  record Failed(String error, Integer statusCode) implements Outcome {}

  private final URI url;
  private final WebhookSigner signer;
  private final Duration timeout;
  private final HttpClient client;

  WebhookSender(URI url, WebhookSigner signer, Duration timeout) {
    this.url = url;
    this.signer = signer;
    this.timeout = timeout;
    this.client = HttpClient.newBuilder()
        .version(HttpClient.Version.HTTP_1_1)
        .followRedirects(HttpClient.Redirect.NEVER)
        .connectTimeout(timeout)
        .build();
  }

  /** Where events go, without path or query, for messages and pages. */
  String target() {
    return url.getScheme() + "://" + url.getAuthority();
  }

  Outcome send(String eventId, String body, long timestampSeconds) throws InterruptedException {
    HttpRequest request = HttpRequest.newBuilder(url)
        .timeout(timeout)
        .header("Content-Type", "application/json")
        .header("User-Agent", "meterd")
        .header("webhook-id", eventId)
        .header("webhook-timestamp", Long.toString(timestampSeconds))
        .header("webhook-signature", signer.signature(eventId, timestampSeconds, body))
        .POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8))
        .build();
    try {
      HttpResponse<InputStream> response = client.send(request, HttpResponse.BodyHandlers.ofInputStream());
      int status = response.statusCode();
      try (InputStream in = response.body()) {
        if (status / 100 == 2) {
          return new Delivered(status);
        }
        return new Failed(refusal(status, in), status);
      }
    } catch (HttpConnectTimeoutException e) {
      return new Failed("cannot connect to the receiver at " + target() + " within " + timeout.toSeconds() + " s",
          null);
    } catch (HttpTimeoutException e) {
      return new Failed("the receiver at " + target() + " did not answer within " + timeout.toSeconds() + " s",
          null);
    } catch (ConnectException e) {
      return new Failed("cannot connect to the receiver at " + target() + ": "
          + (e.getMessage() == null ? "connection refused" : e.getMessage()), null);
    } catch (IOException e) {
      return new Failed("the request to the receiver at " + target() + " failed: " + e, null);
    }
  }

  private String refusal(int status, InputStream body) throws IOException {
    if (status / 100 == 3) {
      return "the receiver at " + target() + " answered HTTP " + status + " (a redirect, which is not followed: "
          + "set [notify] webhook_url to the final address)";
    }
    String text = new String(body.readNBytes(4 * MAX_BODY_CHARS), StandardCharsets.UTF_8)
        .replaceAll("[\\p{Cntrl}\\s]+", " ").strip();
    if (text.length() > MAX_BODY_CHARS) {
      text = text.substring(0, MAX_BODY_CHARS) + "…";
    }
    return "the receiver at " + target() + " answered HTTP " + status + (text.isEmpty() ? "" : ": " + text);
  }
}
