package dev.meterd.cli;

import dev.meterd.admin.JsonViews;
import dev.meterd.engine.RunRequest;
import dev.meterd.engine.RunSummary;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

@Command(name = "aggregate", mixinStandardHelpOptions = true,
    description = {"Runs aggregation once: consumes the new usage records of every changed node.",
        "The last line of stdout is the run summary JSON.",
        "Exit: 0 no node halted; 1 at least one node halted; 2 usage or configuration error; "
            + "3 source or database unavailable."})
final class AggregateCommand implements Callable<Integer> {

  @ParentCommand
  Main main;

  @Option(names = "--once", description = "Run once and exit (required; `serve` runs on a timer)")
  boolean once;

  @Option(names = "--dry-run", description = "Read and validate everything; write nothing")
  boolean dryRun;

  @Option(names = "--node", paramLabel = "NAME", description = "Only this node (repeatable)")
  List<String> nodes = new ArrayList<>();

  @Override
  public Integer call() throws Exception {
    if (!once) {
      throw new UsageException("aggregate needs --once (to run on a timer, use `meterd serve`)");
    }
    try (Context ctx = main.context()) {
      RunSummary summary = ctx.aggregator().run(new RunRequest(dryRun, Set.copyOf(nodes)));
      ctx.print(JsonViews.summary(summary).encode());
      return summary.halted().isEmpty() ? ExitCodes.OK : ExitCodes.HALTED_OR_NOT_FOUND;
    }
  }
}
