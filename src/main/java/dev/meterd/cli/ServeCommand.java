package dev.meterd.cli;

import dev.meterd.admin.AdminTokens;
import dev.meterd.daemon.Daemon;
import dev.meterd.ledger.SqliteLedger;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.ParentCommand;
import sun.misc.Signal;

@Command(name = "serve", mixinStandardHelpOptions = true,
    description = {"Runs the daemon: aggregation every [aggregator] interval_seconds and on "
        + "POST /admin/aggregate-now, and the HTTP server on [http] listen.",
        "Needs an admin token: METERD_ADMIN_TOKEN (its name is admin) or [admin] tokens_file.",
        "SIGTERM or SIGINT lets the node in flight finish, then exits 0."})
final class ServeCommand implements Callable<Integer> {

  @ParentCommand
  Main main;

  @Override
  public Integer call() throws Exception {
    Context ctx = main.context();
    AdminTokens tokens = AdminTokens.load(main.env, ctx.config.admin().tokensFile());
    if (tokens.isEmpty()) {
      throw new UsageException("serve needs an admin token: set " + AdminTokens.ENV
          + " (at least 16 characters, e.g. from `openssl rand -hex 32`) or name a file of NAME:TOKEN lines in "
          + "[admin] tokens_file");
    }
    CountDownLatch stop = new CountDownLatch(1);
    // Handled signals replace the JVM's default exit (status 143), so a clean stop exits 0.
    Signal.handle(new Signal("TERM"), s -> stop.countDown());
    Signal.handle(new Signal("INT"), s -> stop.countDown());
    SqliteLedger apiLedger = SqliteLedger.open(ctx.config.storage().path(), ctx.clock);
    Daemon started;
    try {
      started = Daemon.start(ctx.config, tokens, ctx.source(), ctx.ledger(), apiLedger, ctx.clock);
    } catch (java.net.BindException e) {
      throw new UsageException("cannot listen on " + ctx.config.http().listen() + ": " + e.getMessage()
          + "; set [http] listen to a free address");
    }
    try (Daemon daemon = started) {
      System.err.println("meterd: serving on http://" + ctx.config.http().listen().replaceFirst(":\\d+$", "")
          + ":" + daemon.port() + " (stop with SIGTERM or Ctrl-C)");
      stop.await();
    }
    return ExitCodes.OK;
  }
}
