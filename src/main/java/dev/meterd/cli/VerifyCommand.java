package dev.meterd.cli;

import dev.meterd.admin.JsonViews;
import dev.meterd.ledger.Violation;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

@Command(name = "verify", mixinStandardHelpOptions = true,
    description = {"Checks the ledger's invariants: balances equal the sum of transactions, every consumed "
        + "record points at a charge of its wallet and node, every charge equals its records, "
        + "node totals match the index, and the hash chain shows no row was changed.",
        "Exit: 0 all hold; 1 a violation."})
final class VerifyCommand implements Callable<Integer> {

  @ParentCommand
  Main main;

  @Option(names = "--replay", description = "Also rebuild the ledger from the repository in a scratch "
      + "database and compare (not available yet)")
  boolean replay;

  @Override
  public Integer call() {
    if (replay) {
      throw new UsageException("verify --replay is not available in this version; run `meterd verify` "
          + "for the ledger's own invariants");
    }
    try (Context ctx = main.context()) {
      List<Violation> violations = ctx.ledger().verify();
      ctx.print(JsonViews.verifyReport(violations).encode());
      return violations.isEmpty() ? ExitCodes.OK : ExitCodes.HALTED_OR_NOT_FOUND;
    }
  }
}
