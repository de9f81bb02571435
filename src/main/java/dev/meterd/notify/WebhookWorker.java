package dev.meterd.notify;

import dev.meterd.config.MeterdConfig;
import dev.meterd.ledger.Delivery;
import dev.meterd.ledger.LedgerException;
import dev.meterd.ledger.Outbox;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.DoubleSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Delivers the outbox's events to the webhook receiver, at least once each, on a thread of its
 * own: aggregation and the HTTP server never wait for it, nor for the receiver. Each pass claims
 * the due events in small batches (a short write), posts them one by one, and records each outcome
 * (another short write); all of the state is in the database, so a restart goes on where the last
 * process stopped, with the same event ids.
 *
 * <p>Implementation notes. An event is claimed before it is posted: the claim counts the attempt
 * and makes the event due again only after a lease longer than any attempt can take. If the
 * process dies while posting, the event is posted again once the lease has passed; if it dies
 * after a 2xx but before recording it, the receiver gets the event twice, with the same
 * {@code webhook-id} (that is the "at least once"). A failed attempt makes the event due again
 * after {@link RetrySchedule}'s delay; past the give-up time it is marked failed.
 */
public final class WebhookWorker implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(WebhookWorker.class);

  /** How often the thread looks for due events: a read of an index, nothing when idle. */
  public static final Duration POLL_INTERVAL = Duration.ofSeconds(1);
  /** Events claimed per write: a batch's attempts run one after another. */
  static final int BATCH = 20;
  /** Batches per pass, so that a long queue does not hold off a shutdown between passes. */
  static final int MAX_BATCHES_PER_PASS = 10;

  private final Outbox outbox;
  private final WebhookSender sender;
  private final RetrySchedule schedule;
  private final Clock clock;
  private final DoubleSupplier random;
  private final Duration timeout;
  private final Duration lease;
  private volatile boolean stopping;
  private ScheduledExecutorService thread;

  WebhookWorker(Outbox outbox, WebhookSender sender, RetrySchedule schedule, Duration timeout, Clock clock,
      DoubleSupplier random) {
    this.outbox = outbox;
    this.sender = sender;
    this.schedule = schedule;
    this.clock = clock;
    this.random = random;
    this.timeout = timeout;
    // Connecting and answering may each take the timeout; a minute more covers the writes around them.
    this.lease = timeout.multipliedBy(2).plusMinutes(1);
  }

  /** The worker for {@code [notify]}, with a random jitter; empty when no webhook_url is set. */
  public static Optional<WebhookWorker> create(MeterdConfig.Webhooks config, WebhookSigner signer, Outbox outbox,
      Clock clock) {
    if (config.webhookUrl() == null) {
      return Optional.empty();
    }
    return Optional.of(new WebhookWorker(outbox, new WebhookSender(config.webhookUrl(), signer, config.timeout()),
        RetrySchedule.giveUpAfter(config.giveUpAfter()), config.timeout(), clock,
        () -> ThreadLocalRandom.current().nextDouble()));
  }

  /** Where events go (scheme, host and port), for the log and the pages. */
  public String target() {
    return sender.target();
  }

  /** Starts the worker's thread, which polls every {@link #POLL_INTERVAL} until {@link #close}. */
  public synchronized void start() {
    thread = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "meterd-webhooks");
      t.setDaemon(true);
      return t;
    });
    thread.scheduleWithFixedDelay(this::poll, 0, POLL_INTERVAL.toMillis(), TimeUnit.MILLISECONDS);
  }

  private void poll() {
    try {
      deliverDue();
    } catch (LedgerException e) {
      // The database busy past its timeout, or unavailable: the next poll tries again.
      log.warn("webhook delivery paused: {}", e.getMessage());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (RuntimeException e) {
      // A scheduled task that throws is never run again: log it and keep polling.
      log.error("webhook delivery pass failed", e);
    }
  }

  /**
   * One pass: claims and posts the events due now, in batches, and records each outcome.
   *
   * @return the attempts made
   */
  public int deliverDue() throws InterruptedException {
    int attempts = 0;
    for (int batch = 0; batch < MAX_BATCHES_PER_PASS && !stopping; batch++) {
      List<Delivery> due = outbox.claimDue(BATCH, lease);
      for (Delivery d : due) {
        if (stopping) {
          // Claimed but not posted: due again once its lease has passed, after the restart.
          return attempts;
        }
        attempt(d);
        attempts++;
      }
      if (due.size() < BATCH) {
        break;
      }
    }
    return attempts;
  }

  private void attempt(Delivery d) throws InterruptedException {
    WebhookSender.Outcome outcome = sender.send(d.eventId(), d.body(), clock.instant().getEpochSecond());
    if (outcome instanceof WebhookSender.Delivered delivered) {
      outbox.markDelivered(d.eventId(), delivered.statusCode());
      log.debug("webhook event {} ({}) delivered after {} attempt(s)", d.eventId(), d.type(), d.attempts());
      return;
    }
    WebhookSender.Failed failed = (WebhookSender.Failed) outcome;
    Instant now = clock.instant();
    Optional<Instant> next = schedule.next(d.createdAt(), d.attempts(), now, random.getAsDouble());
    if (next.isPresent()) {
      outbox.markRetry(d.eventId(), failed.error(), failed.statusCode(), next.get());
      log.warn("webhook event {} ({}) not delivered, attempt {}: {}; next attempt at {}", d.eventId(), d.type(),
          d.attempts(), failed.error(), next.get());
    } else {
      outbox.markFailed(d.eventId(), failed.error(), failed.statusCode());
      log.error("webhook event {} ({}) given up, {} s after it was written, at attempt {}: {}; retry it from the "
          + "deliveries page once the receiver works", d.eventId(), d.type(), schedule.giveUpAfter().toSeconds(),
          d.attempts(), failed.error());
    }
  }

  /**
   * Stops the thread: the attempt in flight may finish (it takes at most twice the timeout), the
   * events not yet posted stay due for the next start.
   */
  @Override
  public synchronized void close() {
    stopping = true;
    if (thread == null) {
      return;
    }
    thread.shutdown();
    try {
      if (!thread.awaitTermination(timeout.multipliedBy(2).plusSeconds(5).toMillis(), TimeUnit.MILLISECONDS)) {
        thread.shutdownNow();
      }
    } catch (InterruptedException e) {
      thread.shutdownNow();
      Thread.currentThread().interrupt();
    }
  }
}
