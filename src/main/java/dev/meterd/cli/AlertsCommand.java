package dev.meterd.cli;

import dev.meterd.admin.JsonViews;
import dev.meterd.ledger.BudgetAlert;
import io.vertx.core.json.JsonObject;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

@Command(name = "alerts", mixinStandardHelpOptions = true, description = "Budget alerts.",
    subcommands = {AlertsCommand.Run.class})
final class AlertsCommand {

  @ParentCommand
  Main main;

  @Command(name = "run", mixinStandardHelpOptions = true,
      description = {"Fires the budget alerts due but missing in a cycle, for every enabled wallet with a budget: "
          + "those a budget set or lowered mid-cycle has made due (a charge fires its own alerts as it is written). "
          + "Each alert fires at most once per wallet, threshold and cycle.",
          "Exit: 0; 2 an invalid cycle."})
  static final class Run implements Callable<Integer> {

    @ParentCommand
    AlertsCommand parent;

    @Option(names = "--cycle", paramLabel = "YYYY-MM", description = "The UTC month (default: the current one)")
    String cycle;

    @Option(names = "--dry-run", description = "Print what would fire, write nothing")
    boolean dryRun;

    @Override
    public Integer call() {
      try (Context ctx = parent.main.context()) {
        YearMonth month = cycle(ctx);
        List<BudgetAlert> fired = ctx.ledger().walletStore().fireDueAlerts(month.toString(), dryRun);
        ctx.print(new JsonObject().put("cycle", month.toString()).put("dry_run", dryRun)
            .put("fired", JsonViews.alerts(fired)).encode());
        return ExitCodes.OK;
      }
    }

    private YearMonth cycle(Context ctx) {
      if (cycle == null) {
        return YearMonth.from(ctx.clock.instant().atZone(ZoneOffset.UTC));
      }
      if (!cycle.matches("[0-9]{4}-[0-9]{2}")) {
        throw new UsageException("--cycle must be a month YYYY-MM, got \"" + cycle + "\"");
      }
      try {
        return YearMonth.parse(cycle);
      } catch (DateTimeParseException e) {
        throw new UsageException("--cycle must be a month YYYY-MM, got \"" + cycle + "\"");
      }
    }
  }
}
