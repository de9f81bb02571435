package dev.meterd.cli;

import dev.meterd.edge.UsageWriter;
import io.vertx.core.json.JsonObject;
import java.time.Clock;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

@Command(name = "push", mixinStandardHelpOptions = true,
    description = {"Commits the node's pending files (its folder only) and pushes the clone's branch to origin; "
        + "when the remote moved on, fetches, rebases the node's commits and tries again with backoff.",
        "Safe from cron and after a crash: nothing pending is lost, nothing is pushed twice.",
        "A remote that does not answer a connection or a read within --timeout-seconds ends the push at once.",
        "For an https remote, METERD_GIT_TOKEN is sent as the password.",
        "Prints {\"node\",\"branch\",\"committed\",\"head\",\"attempts\"}. Exit: 0 pushed (or nothing to push); "
            + "2 invalid node name or option; 3 a pending file is invalid, the remote did not answer in time, or "
            + "every push failed (the commits stay)."})
final class PushCommand implements Callable<Integer> {

  @ParentCommand
  Main main;

  @Mixin
  NodeCloneOptions clone;

  @Mixin
  FileLimitOptions limits;

  @Option(names = "--timeout-seconds", paramLabel = "N",
      defaultValue = "" + UsageWriter.PushPolicy.DEFAULT_TRANSPORT_TIMEOUT_SECONDS,
      description = "How long connecting to the remote, and each read from it, may take (default: ${DEFAULT-VALUE})")
  long timeoutSeconds;

  /** A day: longer than any remote should be silent, and far below where JGit's int wraps. */
  static final long MAX_TIMEOUT_SECONDS = 86_400;

  // Hidden: tests run out of tries without waiting; the defaults suit cron.
  @Option(names = "--attempts", hidden = true, paramLabel = "N", description = "Pushes tried before giving up")
  Integer attempts;

  @Option(names = "--backoff-millis", hidden = true, paramLabel = "MS",
      description = "The wait after the first rejected push; it doubles")
  Long backoffMillis;

  @Override
  public Integer call() throws Exception {
    UsageWriter writer = UsageWriter.open(clone.repo, clone.node, Clock.systemUTC(), limits.limits());
    UsageWriter.Pushed pushed = writer.push(
        Optional.ofNullable(main.env.get(Context.GIT_TOKEN_ENV)).filter(t -> !t.isBlank()), policy());
    main.out.println(new JsonObject().put("node", pushed.node()).put("branch", pushed.branch())
        .put("committed", pushed.committed()).put("head", pushed.head()).put("attempts", pushed.attempts()).encode());
    return ExitCodes.OK;
  }

  private UsageWriter.PushPolicy policy() {
    // JGit turns the timeout into milliseconds in an int: past 2,147,483 s it would wrap.
    if (timeoutSeconds < 1 || timeoutSeconds > MAX_TIMEOUT_SECONDS) {
      throw new UsageException("--timeout-seconds must be 1 to " + MAX_TIMEOUT_SECONDS + ", got " + timeoutSeconds);
    }
    if (attempts != null && attempts < 1) {
      throw new UsageException("--attempts must be at least 1, got " + attempts);
    }
    if (backoffMillis != null && backoffMillis < 0) {
      throw new UsageException("--backoff-millis must be 0 or more, got " + backoffMillis);
    }
    UsageWriter.PushPolicy d = UsageWriter.PushPolicy.DEFAULT;
    Duration base = backoffMillis == null ? d.backoffBase() : Duration.ofMillis(backoffMillis);
    return new UsageWriter.PushPolicy(attempts == null ? d.maxAttempts() : attempts, base,
        base.compareTo(d.backoffMax()) > 0 ? base : d.backoffMax(), Duration.ofSeconds(timeoutSeconds));
  }
}
