package dev.meterd.admin;

import dev.meterd.ledger.HoldStore;
import dev.meterd.policy.Authorization;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.WorkerExecutor;
import io.vertx.ext.web.RoutingContext;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Authorize requests on their way to the ledger, answered off the event loop in batches.
 *
 * <p>Implementation notes. The event loop queues a request and, if no drain is running, starts one
 * on a worker thread of its own. A drain takes every request waiting (up to {@link #MAX_BATCH})
 * and asks the ledger for all their wallets at once, with one freshness check ({@code PRAGMA
 * data_version}) for the batch: each request arrived before that check, so its answer is as fresh
 * as a read made after it arrived. Under load the batches grow and the cost per request falls;
 * idle, a batch is one request. The answers go back to each request's event loop in one task per
 * batch. At most {@link #MAX_WAITING} requests wait; more are refused with 503 rather than queued
 * without bound.
 */
final class AuthorizeQueue {

  static final int MAX_WAITING = 10_000;
  static final int MAX_BATCH = 1_000;
  private static final long MAX_DRAIN_NANOS = 1_000_000_000L;

  /** One request: its wallet, its cost (or null), and where to answer it. */
  record Pending(String userSid, Long costCents, RoutingContext ctx, Context context) {}

  /** An answer ready to send: the status and the JSON body. */
  record Answer(int status, String body) {}

  interface Answers {
    /** The answer to a request from its wallet's credit; runs on the worker thread. */
    Answer of(Pending request, Authorization.Credit credit);
  }

  private final HoldStore holds;
  private final Answers answers;
  private final WorkerExecutor worker;
  private final ConcurrentLinkedQueue<Pending> queue = new ConcurrentLinkedQueue<>();
  private final AtomicInteger waiting = new AtomicInteger();
  private final AtomicBoolean draining = new AtomicBoolean();

  AuthorizeQueue(Vertx vertx, HoldStore holds, Answers answers) {
    this.holds = holds;
    this.answers = answers;
    // One thread: the reads share one connection anyway, and one drainer makes the batches large.
    this.worker = vertx.createSharedWorkerExecutor("meterd-authorize", 1);
  }

  /** Queues a request; false when {@link #MAX_WAITING} wait already (the caller answers 503). */
  boolean offer(Pending request) {
    if (waiting.incrementAndGet() > MAX_WAITING) {
      waiting.decrementAndGet();
      return false;
    }
    queue.add(request);
    if (draining.compareAndSet(false, true)) {
      worker.executeBlocking(this::drain, false);
    }
    return true;
  }

  /**
   * Answers batches until the queue is empty; a request queued as it stops starts the next drain.
   * Under a load that never lets the queue empty, it hands over to a new task every
   * {@link #MAX_DRAIN_NANOS}, still draining: Vert.x warns of a worker busy for a minute.
   */
  private Void drain() {
    long started = System.nanoTime();
    List<Pending> batch = new ArrayList<>();
    while (true) {
      if (System.nanoTime() - started > MAX_DRAIN_NANOS) {
        worker.executeBlocking(this::drain, false);
        return null;
      }
      Pending p;
      while (batch.size() < MAX_BATCH && (p = queue.poll()) != null) {
        batch.add(p);
      }
      if (batch.isEmpty()) {
        draining.set(false);
        // A request queued after the poll and before the flag fell found a drain running: take it.
        if (queue.isEmpty() || !draining.compareAndSet(false, true)) {
          return null;
        }
        continue;
      }
      waiting.addAndGet(-batch.size());
      answer(batch);
      batch = new ArrayList<>();
    }
  }

  private void answer(List<Pending> batch) {
    Map<Context, List<Runnable>> sends = new IdentityHashMap<>();
    Map<String, Authorization.Credit> credits = null;
    Throwable failure = null;
    try {
      Set<String> users = new LinkedHashSet<>();
      batch.forEach(p -> users.add(p.userSid()));
      credits = holds.credits(users);
    } catch (RuntimeException | Error e) {
      failure = e;
    }
    for (Pending p : batch) {
      Runnable send;
      if (failure != null) {
        Throwable cause = failure;
        send = () -> AdminApi.fail(p.ctx(), cause);
      } else {
        send = sender(p, credits.get(p.userSid()));
      }
      sends.computeIfAbsent(p.context(), c -> new ArrayList<>()).add(send);
    }
    sends.forEach((context, list) -> context.runOnContext(v -> list.forEach(Runnable::run)));
  }

  private Runnable sender(Pending p, Authorization.Credit credit) {
    try {
      Answer answer = answers.of(p, credit);
      return () -> AdminApi.send(p.ctx(), answer.status(), answer.body());
    } catch (RuntimeException e) {
      // A 500, logged by the router's error handler.
      return () -> AdminApi.fail(p.ctx(), e);
    }
  }
}
