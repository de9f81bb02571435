package dev.meterd.cli;

import dev.meterd.admin.JsonViews;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.ParentCommand;

@Command(name = "status", mixinStandardHelpOptions = true,
    description = "Prints the aggregator's state of every node as JSON {\"nodes\":[...]}.")
final class StatusCommand implements Callable<Integer> {

  @ParentCommand
  Main main;

  @Override
  public Integer call() {
    try (Context ctx = main.context()) {
      ctx.print(JsonViews.nodes(ctx.ledger().reads().nodes().values()).encode());
      return ExitCodes.OK;
    }
  }
}
