package dev.meterd.cli;

import dev.meterd.config.ConfigException;
import dev.meterd.edge.EdgeException;
import dev.meterd.edge.InvalidUsageException;
import dev.meterd.engine.UnknownNodeException;
import dev.meterd.ledger.BalanceOutOfRangeException;
import dev.meterd.ledger.CurrencyMismatchException;
import dev.meterd.ledger.LedgerException;
import dev.meterd.source.SourceException;

/**
 * Every exit code of the command line, and the one place where failures become exit codes and
 * one-sentence messages.
 */
final class ExitCodes {

  static final int OK = 0;
  /** At least one node halted; or the wallet or node named does not exist; or verify failed. */
  static final int HALTED_OR_NOT_FOUND = 1;
  /**
   * A usage or configuration error (among them a {@code [billing] currency} other than the
   * ledger's), or an amount the wallet's balance cannot take.
   */
  static final int USAGE = 2;
  /**
   * The source or the database could not be used: the run stopped, with nothing partial applied
   * (each node's run is applied whole or not at all); try again.
   */
  static final int UNAVAILABLE = 3;
  /** Another aggregation run holds the database's run lock: nothing was done; try again. */
  static final int RUN_IN_PROGRESS = 4;
  /** A defect in meterd: the stack trace is printed for a bug report. */
  static final int INTERNAL = 70;

  private ExitCodes() {}

  static int of(Throwable e) {
    if (e instanceof UsageException || e instanceof ConfigException || e instanceof UnknownNodeException
        || e instanceof InvalidUsageException || e instanceof BalanceOutOfRangeException
        || e instanceof CurrencyMismatchException) {
      return USAGE;
    }
    if (e instanceof NotFoundException) {
      return HALTED_OR_NOT_FOUND;
    }
    if (e instanceof SourceException || e instanceof LedgerException || e instanceof EdgeException) {
      return UNAVAILABLE;
    }
    if (e instanceof dev.meterd.engine.RunInProgressException) {
      return RUN_IN_PROGRESS;
    }
    return INTERNAL;
  }

  /** The sentence for stderr: what failed, on what, and what to do. */
  static String message(Throwable e) {
    return switch (of(e)) {
      case USAGE, HALTED_OR_NOT_FOUND, RUN_IN_PROGRESS -> "meterd: " + e.getMessage();
      case UNAVAILABLE -> e instanceof EdgeException ? "meterd: " + e.getMessage()
          : "meterd: " + e.getMessage() + "; no node was half applied (nodes committed before stay committed), fix the cause and run again";
      default -> "meterd: internal error, please report it with the trace below: " + e;
    };
  }
}
