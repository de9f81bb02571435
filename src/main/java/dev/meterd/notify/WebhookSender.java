package dev.meterd.notify;

import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

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

  /**
   * Posts the event and waits for the answer, its body included, for at most twice the timeout
   * (connecting, then answering): a receiver that sends its headers and then trickles, or never
   * finishes, its body cannot hold the worker, and with it every later event.
   */
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
    // A 2xx needs no body; a refusal's first bytes say why.
    CompletableFuture<HttpResponse<byte[]>> answer = client.sendAsync(request,
        info -> new BoundedBody(info.statusCode() / 100 == 2 ? 0 : 4 * MAX_BODY_CHARS));
    try {
      HttpResponse<byte[]> response = answer.get(timeout.multipliedBy(2).toMillis(), TimeUnit.MILLISECONDS);
      int status = response.statusCode();
      return status / 100 == 2 ? new Delivered(status) : new Failed(refusal(status, response.body()), status);
    } catch (TimeoutException e) {
      answer.cancel(true);
      return new Failed("the receiver at " + target() + " did not finish its answer within "
          + timeout.multipliedBy(2).toSeconds() + " s", null);
    } catch (InterruptedException e) {
      answer.cancel(true);
      throw e;
    } catch (ExecutionException e) {
      return failure(e.getCause());
    }
  }

  private Failed failure(Throwable cause) {
    if (cause instanceof HttpConnectTimeoutException) {
      return new Failed("cannot connect to the receiver at " + target() + " within " + timeout.toSeconds() + " s",
          null);
    }
    if (cause instanceof HttpTimeoutException) {
      return new Failed("the receiver at " + target() + " did not answer within " + timeout.toSeconds() + " s",
          null);
    }
    if (cause instanceof ConnectException) {
      return new Failed("cannot connect to the receiver at " + target() + ": "
          + (cause.getMessage() == null ? "connection refused" : cause.getMessage()), null);
    }
    return new Failed("the request to the receiver at " + target() + " failed: " + cause, null);
  }

  private String refusal(int status, byte[] body) {
    if (status / 100 == 3) {
      return "the receiver at " + target() + " answered HTTP " + status + " (a redirect, which is not followed: "
          + "set [notify] webhook_url to the final address)";
    }
    String text = new String(body, StandardCharsets.UTF_8)
        .replaceAll("[\\p{Cntrl}\\s]+", " ").strip();
    if (text.length() > MAX_BODY_CHARS) {
      text = text.substring(0, MAX_BODY_CHARS) + "…";
    }
    return "the receiver at " + target() + " answered HTTP " + status + (text.isEmpty() ? "" : ": " + text);
  }

  /**
   * The first {@code limit} bytes of an answer's body: complete once it has them (cancelling the
   * rest) or the body ends, so a long body costs neither memory nor time.
   */
  private static final class BoundedBody implements HttpResponse.BodySubscriber<byte[]> {
    private final int limit;
    private final byte[] bytes;
    private int length;
    private final CompletableFuture<byte[]> result = new CompletableFuture<>();
    private Flow.Subscription subscription;

    BoundedBody(int limit) {
      this.limit = limit;
      this.bytes = new byte[limit];
    }

    @Override
    public CompletionStage<byte[]> getBody() {
      return result;
    }

    @Override
    public void onSubscribe(Flow.Subscription s) {
      subscription = s;
      if (limit == 0) {
        s.cancel();
        result.complete(bytes);
      } else {
        s.request(1);
      }
    }

    @Override
    public void onNext(List<ByteBuffer> buffers) {
      for (ByteBuffer b : buffers) {
        int n = Math.min(b.remaining(), limit - length);
        b.get(bytes, length, n);
        length += n;
      }
      if (length == limit) {
        subscription.cancel();
        result.complete(bytes);
      } else {
        subscription.request(1);
      }
    }

    @Override
    public void onError(Throwable e) {
      result.completeExceptionally(e);
    }

    @Override
    public void onComplete() {
      result.complete(Arrays.copyOf(bytes, length));
    }
  }
}
