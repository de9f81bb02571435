package dev.meterd.cli;

import dev.meterd.admin.JsonViews;
import dev.meterd.ledger.NodeState;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "node", mixinStandardHelpOptions = true, description = "Operates on one node.",
    subcommands = {NodeCommand.Resume.class})
final class NodeCommand {

  @ParentCommand
  Main main;

  @Command(name = "resume", mixinStandardHelpOptions = true,
      description = {"Clears a halted node so that the next run retries it.", "Exit: 0; 1 no such node."})
  static final class Resume implements Callable<Integer> {

    @ParentCommand
    NodeCommand parent;

    @Parameters(paramLabel = "NODE", description = "The node's name")
    String node;

    @Override
    public Integer call() {
      try (Context ctx = parent.main.context()) {
        NodeState state = ctx.ledger().nodeStore().resume(node)
            .orElseThrow(() -> new NotFoundException("no node named " + node + "; `meterd status` lists the nodes"));
        ctx.print(JsonViews.node(state).encode());
        return ExitCodes.OK;
      }
    }
  }
}
