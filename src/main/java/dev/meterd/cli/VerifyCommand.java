package dev.meterd.cli;

import dev.meterd.admin.JsonViews;
import dev.meterd.ledger.Violation;
import dev.meterd.engine.Replay;
import dev.meterd.ledger.SqliteLedger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

@Command(name = "verify", mixinStandardHelpOptions = true,
    description = {"Checks the ledger's invariants: balances equal the sum of transactions, every consumed "
        + "record points at a charge of its wallet and node, every charge equals its records, "
        + "node totals match the index, and the hash chain shows no row was changed.",
        "Payments received but not credited (not in the ledger's cents) are counted on stderr: they wait for an "
            + "admin and fail nothing.",
        "Exit: 0 all hold; 1 a violation."})
final class VerifyCommand implements Callable<Integer> {

  @ParentCommand
  Main main;

  @Option(names = "--replay", description = "Also rebuild every node's consumed records from the repository's "
      + "history into a scratch database and compare them, record by record, with the ledger")
  boolean replay;

  @Override
  public Integer call() throws Exception {
    try (Context ctx = main.context()) {
      List<Violation> violations = new ArrayList<>(ctx.ledger().audit().verify());
      if (replay) {
        violations.addAll(replay(ctx));
      }
      noteUnappliedPayments(ctx);
      ctx.print(JsonViews.verifyReport(violations).encode());
      return violations.isEmpty() ? ExitCodes.OK : ExitCodes.HALTED_OR_NOT_FOUND;
    }
  }

  /**
   * Says on stderr how many payments wait for an admin. They break no invariant (the report's
   * shape is fixed by the interface spec), but whoever checks the ledger should hear of money that
   * is not in it.
   */
  private static void noteUnappliedPayments(Context ctx) {
    long unapplied = ctx.ledger().unappliedPayments().count();
    if (unapplied > 0) {
      ctx.note(unapplied + (unapplied == 1 ? " payment received by the provider was" : " payments received by the "
          + "provider were") + " not credited (not in the ledger's cents): an admin must handle "
          + (unapplied == 1 ? "it" : "them") + ", see GET /admin/payments/unapplied or the payments page");
    }
  }

  private static List<Violation> replay(Context ctx) throws Exception {
    Path scratchDir = Files.createTempDirectory("meterd-replay");
    try (SqliteLedger scratch = SqliteLedger.open(scratchDir.resolve("replay.db"), ctx.clock)) {
      Replay replay = new Replay(ctx.source(), ctx.ledger(), scratch, ctx.parser());
      List<Violation> found = replay.run();
      ctx.note("replayed " + replay.recordsReplayed() + " records from the history");
      return found;
    } finally {
      BenchCommand.deleteTree(scratchDir);
    }
  }
}
