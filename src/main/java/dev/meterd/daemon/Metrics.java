package dev.meterd.daemon;

import dev.meterd.engine.RunSummary;
import dev.meterd.ledger.NodeLeases;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * meterd's metrics, all named {@code meterd_...} in the Prometheus text format: runs by outcome,
 * run duration, records consumed and duplicate, cents debited, nodes halted, seconds since the
 * last successful run, and the newest {@code occurred_at} consumed (so that lag can be alerted on).
 */
public final class Metrics {

  private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private final Clock clock;
  private final Timer runDuration;
  private final Counter recordsConsumed;
  private final Counter recordsDuplicate;
  private final Counter debitedCents;
  private final AtomicLong nodesHalted = new AtomicLong();
  private final AtomicReference<Instant> lastSuccess = new AtomicReference<>();
  private final AtomicReference<Instant> newestOccurredAt = new AtomicReference<>();

  public Metrics(Clock clock, Instant newestOccurredAtAtStart) {
    this.clock = clock;
    this.newestOccurredAt.set(newestOccurredAtAtStart);
    runDuration = Timer.builder("meterd.run.duration").description("Duration of aggregation runs")
        .register(registry);
    recordsConsumed = Counter.builder("meterd.records.consumed").description("Records consumed").register(registry);
    recordsDuplicate = Counter.builder("meterd.records.duplicate")
        .description("Records read whose key was already consumed with the same content").register(registry);
    debitedCents = Counter.builder("meterd.debited.cents").description("Cents debited from wallets")
        .register(registry);
    Gauge.builder("meterd.nodes.halted", nodesHalted, AtomicLong::get).description("Nodes halted after the last run")
        .register(registry);
    Gauge.builder("meterd.last.success.age", this, m -> m.secondsSince(m.lastSuccess.get())).baseUnit("seconds")
        .description("Seconds since the last run that completed (NaN before the first)").register(registry);
    Gauge.builder("meterd.newest.consumed.occurred.at", this, m -> epochSeconds(m.newestOccurredAt.get()))
        .baseUnit("seconds").description("occurred_at of the newest record consumed, as Unix time")
        .register(registry);
    for (String outcome : new String[] {"ok", "halted", "failed"}) {
      runs(outcome);
    }
  }

  private Counter runs(String outcome) {
    return Counter.builder("meterd.runs").tag("outcome", outcome).description("Aggregation runs by outcome")
        .register(registry);
  }

  /** A run that completed (possibly with halted nodes). */
  public void recordRun(RunSummary summary, Duration took) {
    runDuration.record(took);
    runs(summary.halted().isEmpty() ? "ok" : "halted").increment();
    recordsConsumed.increment(summary.recordsConsumed());
    recordsDuplicate.increment(summary.recordsDuplicate());
    debitedCents.increment(summary.debitedCents());
    nodesHalted.set(summary.halted().size());
    lastSuccess.set(clock.instant());
    Instant newest = summary.newestOccurredAt();
    if (newest != null) {
      newestOccurredAt.accumulateAndGet(newest, (a, b) -> a == null || b.isAfter(a) ? b : a);
    }
  }

  /** A run that could not complete (source or database unavailable). */
  public void recordFailure(Duration took) {
    runDuration.record(took);
    runs("failed").increment();
  }

  /**
   * Several daemons share the store: every metric carries this daemon's name ({@code daemon}), and
   * two more tell how many nodes it holds now and how many lapsed leases it has taken over.
   *
   * @param own this daemon's leases (its name, its takeovers)
   * @param reader the leases as the database has them, read at each scrape
   */
  public void watchLeases(NodeLeases own, NodeLeases reader) {
    registry.config().commonTags("daemon", own.holder());
    Gauge.builder("meterd.leases.held", this, m -> held(own.holder(), reader))
        .description("Nodes whose lease this daemon holds now (NaN when the database cannot be read)")
        .register(registry);
    io.micrometer.core.instrument.FunctionCounter.builder("meterd.lease.takeovers", own, NodeLeases::takeovers)
        .description("Lapsed leases of another daemon this daemon took over").register(registry);
  }

  private static double held(String holder, NodeLeases reader) {
    try {
      return reader.leases().stream().filter(l -> l.live() && holder.equals(l.holder())).count();
    } catch (dev.meterd.ledger.LedgerException e) {
      return Double.NaN;
    }
  }

  public String scrape() {
    return registry.scrape();
  }

  private double secondsSince(Instant at) {
    return at == null ? Double.NaN : Duration.between(at, clock.instant()).toMillis() / 1000.0;
  }

  private static double epochSeconds(Instant at) {
    return at == null ? Double.NaN : at.toEpochMilli() / 1000.0;
  }
}
