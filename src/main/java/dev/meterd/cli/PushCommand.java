package dev.meterd.cli;

import dev.meterd.edge.UsageWriter;
import io.vertx.core.json.JsonObject;
import java.time.Clock;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.ParentCommand;

@Command(name = "push", mixinStandardHelpOptions = true,
    description = {"Commits the node's pending files (its folder only) and pushes the clone's branch to origin; "
        + "when the remote moved on, fetches, rebases the node's commits and tries again with backoff.",
        "Safe from cron and after a crash: nothing pending is lost, nothing is pushed twice.",
        "For an https remote, METERD_GIT_TOKEN is sent as the password.",
        "Prints {\"node\",\"branch\",\"committed\",\"head\",\"attempts\"}. Exit: 0 pushed (or nothing to push); "
            + "2 invalid node name; 3 a pending file is invalid, or every push failed (the commits stay)."})
final class PushCommand implements Callable<Integer> {

  @ParentCommand
  Main main;

  @Mixin
  NodeCloneOptions clone;

  @Override
  public Integer call() throws Exception {
    UsageWriter writer = UsageWriter.open(clone.repo, clone.node, Clock.systemUTC());
    UsageWriter.Pushed pushed = writer.push(
        Optional.ofNullable(main.env.get(Context.GIT_TOKEN_ENV)).filter(t -> !t.isBlank()),
        UsageWriter.PushPolicy.DEFAULT);
    main.out.println(new JsonObject().put("node", pushed.node()).put("branch", pushed.branch())
        .put("committed", pushed.committed()).put("head", pushed.head()).put("attempts", pushed.attempts()).encode());
    return ExitCodes.OK;
  }
}
