package dev.meterd.cli;

import dev.meterd.admin.AdminTokens;
import dev.meterd.admin.PaymentWebhook;
import dev.meterd.batch.BatchParser;
import dev.meterd.daemon.Daemon;
import dev.meterd.ledger.SqliteLedger;
import dev.meterd.notify.WebhookSigner;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import sun.misc.Signal;

@Command(name = "serve", mixinStandardHelpOptions = true,
    description = {"Runs the daemon: aggregation every [aggregator] interval_seconds and on "
        + "POST /admin/aggregate-now, and the HTTP server on [http] listen.",
        "Needs an admin token: METERD_ADMIN_TOKEN (its name is admin) or [admin] tokens_file.",
        "METERD_PAYMENT_WEBHOOK_SECRET (the payment provider's signing secret, whsec_...) turns on "
            + "POST /webhooks/payments.",
        "METERD_CREDIT_ENFORCEMENT_ENABLED=true|false overrides [enforcement] enabled.",
        "SIGTERM or SIGINT lets the node in flight finish, then exits 0."})
final class ServeCommand implements Callable<Integer> {

  @ParentCommand
  Main main;

  @Option(names = "--demo", description = "First create a demo usage repository with a writer committing to it "
      + "every few seconds, and a generated admin token (printed with the admin page's address)")
  boolean demo;

  @Override
  public Integer call() throws Exception {
    DemoWriter writer = null;
    if (demo) {
      writer = prepareDemo();
    }
    try {
      return serve();
    } finally {
      if (writer != null) {
        writer.close();
      }
    }
  }

  /** A fresh demo folder: repository, database, token; the configuration points at them. */
  private DemoWriter prepareDemo() throws Exception {
    Path dir = Files.createTempDirectory("meterd-demo");
    Path repoDir = dir.resolve("usage.git");
    main.source = repoDir.toString();
    main.demoDb = dir.resolve("meterd.db");
    byte[] secret = new byte[24];
    new SecureRandom().nextBytes(secret);
    String token = HexFormat.of().formatHex(secret);
    // Only the demo's own token: no secret of the environment reaches the demo (a payment webhook
    // would credit its wallets, a webhook signer would sign its events for a real receiver).
    Map<String, String> env = new HashMap<>(main.env);
    for (String name : new String[] {AdminTokens.ENV, PaymentWebhook.SECRET_ENV, WebhookSigner.ENV}) {
      if (env.remove(name) != null && !name.equals(AdminTokens.ENV)) {
        main.err.println("meterd demo: " + name + " is ignored: the demo sends and takes no real webhooks");
      }
    }
    env.put(AdminTokens.ENV, token);
    main.env = env;
    demoInterval = Duration.ofSeconds(5);
    int created = Main.execute(new String[] {"demo-repo", repoDir.toString()}, main.out, main.err, env);
    if (created != ExitCodes.OK) {
      throw new IllegalStateException("cannot create the demo repository in " + repoDir);
    }
    DemoWriter writer = new DemoWriter(repoDir, dir.resolve("edge"), java.time.Clock.systemUTC());
    writer.start(3);
    demoRepo = repoDir;
    demoBanner = "meterd demo: usage repository " + repoDir + ", database " + main.demoDb
        + "\nmeterd demo: admin token " + token;
    return writer;
  }

  private Duration demoInterval;
  private String demoBanner;
  /** The demo's usage repository, or null when not a demo. */
  private Path demoRepo;

  /** The signer of METERD_WEBHOOK_SECRET, needed when [notify] webhook_url is set; null otherwise. */
  private WebhookSigner webhookSigner(Context ctx) {
    if (ctx.config.webhooks().webhookUrl() == null) {
      return null;
    }
    return WebhookSigner.fromEnv(main.env).orElseThrow(() -> new UsageException("[notify] webhook_url is set but "
        + WebhookSigner.ENV + " is not: set it to the secret the receiver verifies with, whsec_ followed by a base64 "
        + "key of 24 to 64 bytes (e.g. from `echo whsec_$(openssl rand -base64 32)`)"));
  }

  private int serve() throws Exception {
    Context ctx = main.context().withEnvironment(main.env);
    if (demoInterval != null) {
      if (ctx.config.webhooks().webhookUrl() != null || ctx.config.admin().tokensFile() != null) {
        main.err.println("meterd demo: [notify] webhook_url and [admin] tokens_file are ignored: the demo stays "
            + "in its own folder");
      }
      ctx = ctx.forDemo(demoInterval);
    }
    AdminTokens tokens = AdminTokens.load(main.env, ctx.config.admin().tokensFile());
    if (tokens.isEmpty()) {
      throw new UsageException("serve needs an admin token: set " + AdminTokens.ENV
          + " (at least 16 characters, e.g. from `openssl rand -hex 32`) or name a file of NAME:TOKEN lines in "
          + "[admin] tokens_file");
    }
    Optional<String> paymentWebhookSecret = PaymentWebhook.secretFrom(main.env);
    BatchParser parser = ctx.parser();
    WebhookSigner signer = webhookSigner(ctx);
    SqliteLedger apiLedger = ctx.openLedger();
    try (SqliteLedger storyLedger = demoRepo == null ? null : ctx.openLedger();
        DemoStory story = demoRepo == null ? null : new DemoStory(demoRepo, ctx.config.source().branch(), storyLedger,
            ctx.clock)) {
      if (story != null) {
        story.fundWallets();
      }
      return serve(ctx, tokens, parser, signer, apiLedger, paymentWebhookSecret, story);
    }
  }

  private int serve(Context ctx, AdminTokens tokens, BatchParser parser, WebhookSigner signer, SqliteLedger apiLedger,
      Optional<String> paymentWebhookSecret, DemoStory story) throws Exception {
    CountDownLatch stop = new CountDownLatch(1);
    // Handled signals replace the JVM's default exit (status 143), so a clean stop exits 0.
    Signal.handle(new Signal("TERM"), s -> stop.countDown());
    Signal.handle(new Signal("INT"), s -> stop.countDown());
    Daemon started;
    try {
      started = Daemon.start(ctx.config, tokens, parser, ctx.source(), ctx.ledger(), apiLedger, ctx.clock,
          paymentWebhookSecret, signer);
    } catch (java.net.BindException e) {
      throw new UsageException("cannot listen on " + ctx.config.http().listen() + ": " + e.getMessage()
          + "; set [http] listen to a free address");
    }
    try (Daemon daemon = started) {
      String base = "http://" + ctx.config.http().listen().replaceFirst(":\\d+$", "") + ":" + daemon.port();
      if (demoBanner != null) {
        main.out.println(demoBanner + "\nmeterd demo: open " + base + "/admin/ui/login and log in with the token");
        main.out.flush();
      }
      if (story != null) {
        story.start();
      }
      main.err.println("meterd: serving on " + base + " (stop with SIGTERM or Ctrl-C)");
      stop.await();
    }
    return ExitCodes.OK;
  }
}
