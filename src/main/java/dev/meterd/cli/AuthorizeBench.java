package dev.meterd.cli;

import dev.meterd.admin.AdminTokens;
import dev.meterd.batch.BatchParser;
import dev.meterd.config.ConfigLoader;
import dev.meterd.config.MeterdConfig;
import dev.meterd.daemon.Daemon;
import dev.meterd.ledger.SqliteLedger;
import dev.meterd.ledger.TxnType;
import dev.meterd.source.git.GitBatchSource;
import dev.meterd.source.git.RepoCommitter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.util.Arrays;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

@Command(name = "authorize", mixinStandardHelpOptions = true,
    description = {"Starts the real daemon (HTTP server, enforcement on) on a free loopback port over a temp ledger of "
        + "funded wallets, and drives GET /v1/authorize/{user}?cost_cents=N over keep-alive connections with an "
        + "authorize token: requests/s, latency (p50, p99, max) from a request's first byte written to its answer's "
        + "last byte read, and the process's CPU per request (the load generator's share apart).",
        "Each connection sends its next request when the last one is answered (a closed loop); the load generator "
        + "runs in this process, on the same cores as the server."})
final class AuthorizeBench implements Callable<Integer> {

  private static final String TOKEN_NAME = "bench";

  @ParentCommand
  BenchCommand parent;

  @Option(names = "--wallets", defaultValue = "1000", description = "Funded wallets (default ${DEFAULT-VALUE})")
  int wallets;

  @Option(names = "--requests", defaultValue = "200000", description = "Requests measured (default ${DEFAULT-VALUE})")
  int requests;

  @Option(names = "--warmup", defaultValue = "50000", description = "Requests before measuring (default ${DEFAULT-VALUE})")
  int warmup;

  @Option(names = "--connections", defaultValue = "32", description = "Keep-alive connections (default ${DEFAULT-VALUE})")
  int connections;


  @Override
  public Integer call() throws Exception {
    if (wallets < 1 || requests < 1 || warmup < 0 || connections < 1 || connections > 1_000) {
      throw new UsageException("bench authorize needs --wallets, --requests >= 1, --warmup >= 0 and --connections "
          + "from 1 to 1000");
    }
    BenchCommand.useSink(parent.main.out);
    Path work = Files.createTempDirectory("meterd-bench-authorize");
    try {
      return bench(work);
    } finally {
      BenchCommand.deleteTree(work);
    }
  }

  private int bench(Path work) throws Exception {
    BenchCommand.say("machine: %d cores, max heap %d MiB, java %s", Runtime.getRuntime().availableProcessors(),
        Runtime.getRuntime().maxMemory() >> 20, System.getProperty("java.version"));
    Clock clock = Clock.tick(Clock.systemUTC(), java.time.Duration.ofMillis(1));
    Path db = work.resolve("bench.db");
    try (SqliteLedger ledger = SqliteLedger.open(db, clock)) {
      for (int w = 0; w < wallets; w++) {
        ledger.walletStore().credit(user(w), TxnType.GRANT, 1_000_000, "bench", null);
      }
    }
    String token = "bench-" + Long.toHexString(new java.security.SecureRandom().nextLong()) + "-0123456789";
    Path tokens = work.resolve("tokens");
    Files.writeString(tokens, "authorize " + TOKEN_NAME + ":" + token + "\n");
    MeterdConfig config = ConfigLoader.parse("""
        [storage]
        path = "%s"
        [aggregator]
        interval_seconds = 86400
        [http]
        listen = "127.0.0.1:0"
        [admin]
        tokens_file = "%s"
        [enforcement]
        enabled = true
        """.formatted(db, tokens), "the bench's configuration");
    Path repoDir = work.resolve("usage.git");
    try (RepoCommitter repo = RepoCommitter.initBare(repoDir, "main")) {
      repo.commit("empty", Map.of("README", "bench\n".getBytes(StandardCharsets.UTF_8)), Set.of(), Instant.now());
    }
    AdminTokens adminTokens = AdminTokens.load(Map.of(AdminTokens.ENV, "admin-" + token), tokens);
    try (Daemon daemon = Daemon.start(config, adminTokens, new BatchParser(BatchParser.Limits.DEFAULT),
        GitBatchSource.open(repoDir.toString(), "main", work.resolve("clone"), Optional.empty()),
        SqliteLedger.open(db, clock), SqliteLedger.open(db, clock), clock, Optional.empty(), null)) {
      drive(daemon.port(), token);
    }
    return ExitCodes.OK;
  }

  private void drive(int port, String token) throws Exception {
    String head = " HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\nAuthorization: Bearer " + token + "\r\n\r\n";
    java.util.function.IntFunction<byte[]> request = i -> ("GET /v1/authorize/" + user(i % wallets) + "?cost_cents="
        + (1 + (i * 7919L) % 1_000) + head).getBytes(StandardCharsets.US_ASCII);
    java.lang.management.ThreadMXBean threads = java.lang.management.ManagementFactory.getThreadMXBean();
    try (HttpLoad load = new HttpLoad(new java.net.InetSocketAddress("127.0.0.1", port), connections)) {
      if (warmup > 0) {
        load.run(warmup, request);
      }
      long start = System.nanoTime();
      long cpuStart = processCpuNanos();
      long clientCpuStart = threads.getCurrentThreadCpuTime();
      HttpLoad.Result r = load.run(requests, request);
      double seconds = (System.nanoTime() - start) / 1e9;
      double cpuMicros = (processCpuNanos() - cpuStart) / 1e3 / requests;
      double clientCpuMicros = (threads.getCurrentThreadCpuTime() - clientCpuStart) / 1e3 / requests;
      long[] sorted = r.latenciesNanos().clone();
      Arrays.sort(sorted);
      BenchCommand.say("authorize: %d requests (after %d to warm up) over %d keep-alive connections, %d wallets: "
          + "%.2f s = %,.0f requests/s; latency p50 %.2f ms, p99 %.2f ms, max %.2f ms; answers 200: %d, 402: %d; "
          + "CPU per request %.0f us, of which the load generator %.0f us", requests, warmup, connections, wallets,
          seconds, requests / seconds, percentile(sorted, 50), percentile(sorted, 99), sorted[sorted.length - 1] / 1e6,
          r.status200(), r.status402(), cpuMicros, clientCpuMicros);
      if (r.otherStatus() > 0) {
        throw new IllegalStateException("benchmark run was wrong: " + r.otherStatus()
            + " answers were neither 200 nor 402");
      }
    }
  }

  /** CPU time of this whole process (server and load generator): what one request costs, whatever else runs. */
  private static long processCpuNanos() {
    return ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory
        .getOperatingSystemMXBean()).getProcessCpuTime();
  }

  private static double percentile(long[] sorted, int pct) {
    int index = (int) Math.min(sorted.length - 1, Math.ceil(sorted.length * pct / 100.0) - 1);
    return sorted[Math.max(0, index)] / 1e6;
  }

  private static String user(int w) {
    return "u_" + w;
  }
}
