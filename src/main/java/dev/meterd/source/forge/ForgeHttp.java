package dev.meterd.source.forge;

import dev.meterd.source.SourceException;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.streams.WriteStream;
import io.vertx.ext.web.client.HttpResponse;
import io.vertx.ext.web.client.WebClient;
import io.vertx.ext.web.client.WebClientOptions;
import io.vertx.ext.web.codec.BodyCodec;
import io.vertx.ext.web.codec.spi.BodyStream;
import java.net.URI;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * GET requests to one forge, made blocking for the aggregator's thread: explicit timeouts,
 * bounded retries with backoff (5xx, 429 with its {@code Retry-After}, resets, timeouts), redirects
 * followed only on the base URL's own scheme, host and port, and a cap on every reply's size that
 * stops reading as soon as it is passed.
 *
 * <p>The token goes in the {@code Authorization} header of requests to the base URL's host and
 * nowhere else: no message, log line or exception here carries it.
 */
final class ForgeHttp implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(ForgeHttp.class);
  private static final int MAX_REDIRECTS = 3;

  /** A reply the caller reads: 2xx, or 404 (which callers take as "no such object"). */
  record Reply(int status, Buffer body) {
    boolean found() {
      return status != 404;
    }
  }

  private final Vertx vertx;
  private final WebClient client;
  private final URI base;
  private final String authorization;
  private final ForgeOptions options;
  private final AtomicLong requests = new AtomicLong();

  ForgeHttp(URI base, Optional<String> token, ForgeOptions options) {
    this.base = base;
    this.authorization = token.map(t -> "token " + t).orElse(null);
    this.options = options;
    this.vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(1).setWorkerPoolSize(1));
    this.client = WebClient.create(vertx, new WebClientOptions()
        .setFollowRedirects(false)
        .setConnectTimeout((int) options.connectTimeout().toMillis())
        .setUserAgent("meterd")
        .setKeepAlive(true));
  }

  /** Requests sent so far, each try counted. */
  long requests() {
    return requests.get();
  }

  /** The base URL's path joined with {@code path} and the query, each value encoded. */
  URI uri(String path, Map<String, String> query) {
    StringBuilder s = new StringBuilder(base.toString().replaceAll("/+$", "")).append(path);
    char sep = '?';
    for (Map.Entry<String, String> e : query.entrySet()) {
      s.append(sep).append(e.getKey()).append('=').append(URLEncoder.encode(e.getValue(), StandardCharsets.UTF_8));
      sep = '&';
    }
    return URI.create(s.toString());
  }

  /**
   * GETs a URL of the forge, trying again where a later try may succeed.
   *
   * @param what the request as messages name it: method and path, never the host's credentials
   * @param maxBytes the largest reply body accepted
   * @throws SourceException the forge did not answer 2xx or 404 within the tries, redirected
   *     elsewhere, or sent more than {@code maxBytes}
   */
  Reply get(URI uri, String what, long maxBytes) throws SourceException {
    URI target = uri;
    int redirects = 0;
    for (int attempt = 1; ; attempt++) {
      String failure;
      Duration wait = backoff(attempt);
      try {
        HttpResponse<Buffer> r = send(target, maxBytes);
        int status = r.statusCode();
        if ((status >= 200 && status < 300) || status == 404) {
          return new Reply(status, r.body() == null ? Buffer.buffer() : r.body());
        }
        if (status >= 300 && status < 400 && r.getHeader("Location") != null) {
          URI next = target.resolve(r.getHeader("Location"));
          if (!sameOrigin(next)) {
            throw new SourceException(what + ": the forge redirected to " + origin(next) + ", not " + origin(base)
                + "; not followed, so the token stays with " + base.getHost());
          }
          if (++redirects > MAX_REDIRECTS) {
            throw new SourceException(what + ": more than " + MAX_REDIRECTS + " redirects");
          }
          target = next;
          attempt--;
          continue;
        }
        failure = status + " " + r.statusMessage();
        if (status == 429) {
          Duration asked = retryAfter(r.getHeader("Retry-After"));
          if (asked != null && asked.compareTo(options.maxRetryAfter()) > 0) {
            throw new SourceException(what + ": " + failure + ", asked to wait " + asked.toSeconds()
                + " s, longer than " + options.maxRetryAfter().toSeconds() + " s");
          }
          if (asked != null) {
            wait = asked;
          }
        } else if (status < 500) {
          throw new SourceException(what + ": " + failure + hint(status));
        }
      } catch (TooLarge e) {
        throw new SourceException(what + ": the reply is over the limit of " + maxBytes + " bytes");
      } catch (RequestFailed e) {
        failure = e.getMessage();
      }
      if (attempt >= options.maxAttempts()) {
        throw new SourceException(what + ": " + failure + " (" + attempt + (attempt == 1 ? " try" : " tries") + ")");
      }
      log.debug("{}: {}; try {} of {} in {} ms", what, failure, attempt + 1, options.maxAttempts(), wait.toMillis());
      sleep(wait);
    }
  }

  private static String hint(int status) {
    return switch (status) {
      case 401, 403 -> " (check the token in METERD_FORGE_TOKEN or [source] token_file, and its read access)";
      case 400, 422 -> " (the forge refused the request: is base_url the forge's root?)";
      default -> "";
    };
  }

  private HttpResponse<Buffer> send(URI target, long maxBytes) throws RequestFailed, TooLarge {
    requests.incrementAndGet();
    var request = client.getAbs(target.toString())
        .connectTimeout(options.connectTimeout().toMillis())
        .idleTimeout(options.requestTimeout().toMillis())
        .putHeader("Accept", "application/json")
        .as(bounded(maxBytes));
    if (authorization != null && sameOrigin(target)) {
      request.putHeader("Authorization", authorization);
    }
    long deadline = options.connectTimeout().plus(options.requestTimeout()).plusSeconds(1).toMillis();
    try {
      return request.send().toCompletionStage().toCompletableFuture().get(deadline, TimeUnit.MILLISECONDS);
    } catch (ExecutionException e) {
      Throwable cause = e.getCause() == null ? e : e.getCause();
      if (cause instanceof TooLarge tooLarge) {
        throw tooLarge;
      }
      throw new RequestFailed(describe(cause));
    } catch (TimeoutException e) {
      throw new RequestFailed("no reply within " + deadline + " ms");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new RequestFailed("interrupted");
    }
  }

  /** A failure as one phrase, without any URL or header. */
  private String describe(Throwable e) {
    if (e instanceof io.netty.channel.ConnectTimeoutException) {
      return "no connection within " + options.connectTimeout().toMillis() + " ms";
    }
    if (e instanceof TimeoutException) {
      return "no reply for " + options.requestTimeout().toMillis() + " ms";
    }
    String message = e.getMessage();
    return e.getClass().getSimpleName() + (message == null ? "" : ": " + message);
  }

  private boolean sameOrigin(URI uri) {
    return Objects.equals(uri.getScheme(), base.getScheme()) && Objects.equals(uri.getHost(), base.getHost())
        && port(uri) == port(base);
  }

  private static int port(URI uri) {
    return uri.getPort() != -1 ? uri.getPort() : "https".equals(uri.getScheme()) ? 443 : 80;
  }

  private static String origin(URI uri) {
    return uri.getScheme() + "://" + uri.getHost() + (uri.getPort() == -1 ? "" : ":" + uri.getPort());
  }

  /** The wait a {@code Retry-After} asks for (seconds or an HTTP date), or null without one. */
  private static Duration retryAfter(String value) {
    if (value == null || value.isBlank()) {
      return null;
    }
    try {
      return Duration.ofSeconds(Math.max(0, Long.parseLong(value.strip())));
    } catch (NumberFormatException notSeconds) {
      try {
        ZonedDateTime at = ZonedDateTime.parse(value.strip(), DateTimeFormatter.RFC_1123_DATE_TIME);
        Duration d = Duration.between(java.time.Instant.now(), at.toInstant());
        return d.isNegative() ? Duration.ZERO : d;
      } catch (java.time.format.DateTimeParseException unreadable) {
        return null;
      }
    }
  }

  private Duration backoff(int attempt) {
    long base = options.backoffBase().toMillis() << Math.min(attempt - 1, 20);
    long capped = Math.min(base, options.backoffMax().toMillis());
    // Half fixed, half random: tries of many nodes do not return in step.
    return Duration.ofMillis(capped / 2 + ThreadLocalRandom.current().nextLong(capped / 2 + 1));
  }

  private static void sleep(Duration wait) throws SourceException {
    try {
      Thread.sleep(wait.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new SourceException("interrupted while waiting to try the forge again");
    }
  }

  @Override
  public void close() {
    client.close();
    try {
      vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    } catch (ExecutionException | TimeoutException e) {
      log.debug("closing the forge client's Vert.x", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** A try that may succeed if made again: a reset, a timeout, a refused connection. */
  private static final class RequestFailed extends Exception {
    RequestFailed(String message) {
      super(message, null, false, false);
    }
  }

  /** The reply passed its size limit; the rest of it was not read. */
  private static final class TooLarge extends Exception {
    TooLarge() {
      super("reply too large", null, false, false);
    }
  }

  /** A body codec that keeps at most {@code maxBytes} and fails the reply past them. */
  private static BodyCodec<Buffer> bounded(long maxBytes) {
    return () -> new BodyStream<>() {
      private final Buffer body = Buffer.buffer();
      private final Promise<Buffer> result = Promise.promise();
      private boolean over;

      @Override
      public Future<Buffer> result() {
        return result.future();
      }

      @Override
      public void handle(Throwable failure) {
        result.tryFail(failure);
      }

      @Override
      public Future<Void> write(Buffer data) {
        if (!over && body.length() + (long) data.length() > maxBytes) {
          over = true;
          result.tryFail(new TooLarge());
        } else if (!over) {
          body.appendBuffer(data);
        }
        return over ? Future.failedFuture(new TooLarge()) : Future.succeededFuture();
      }

      @Override
      public Future<Void> end() {
        result.tryComplete(body);
        return Future.succeededFuture();
      }

      @Override
      public WriteStream<Buffer> exceptionHandler(Handler<Throwable> handler) {
        return this;
      }

      @Override
      public WriteStream<Buffer> setWriteQueueMaxSize(int maxSize) {
        return this;
      }

      @Override
      public boolean writeQueueFull() {
        return false;
      }

      @Override
      public WriteStream<Buffer> drainHandler(Handler<Void> handler) {
        return this;
      }
    };
  }
}
