package dev.meterd.cli;

import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Map;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

/** The {@code meterd} command line. */
@Command(
    name = "meterd",
    mixinStandardHelpOptions = true,
    version = "meterd 0.1.0",
    description = "Usage-billing aggregator: consumes usage batches from a git repository into prepaid wallets.",
    subcommands = {
      ServeCommand.class,
      AggregateCommand.class,
      StatusCommand.class,
      WalletCommand.class,
      AlertsCommand.class,
      NodeCommand.class,
      VerifyCommand.class,
      DemoRepoCommand.class,
      BenchCommand.class,
      RecordCommand.class,
      PushCommand.class,
      CommandLine.HelpCommand.class
    })
public final class Main {

  @Option(names = "--config", scope = ScopeType.INHERIT, paramLabel = "FILE",
      description = "TOML configuration (default: config/meterd.toml when it exists, else built-in defaults)")
  Path config;

  @Option(names = "--db", scope = ScopeType.INHERIT, paramLabel = "PATH",
      description = "The SQLite database file; overrides [storage] path")
  Path db;

  @Option(names = "--source", scope = ScopeType.INHERIT, paramLabel = "URL_OR_PATH",
      description = "The usage repository, a local path or a git URL; overrides [source] url")
  String source;

  /** The demo's own SQLite file ({@code serve --demo}), whatever the configuration's storage; else null. */
  Path demoDb;

  /** The environment, replaceable in tests. */
  Map<String, String> env = System.getenv();

  PrintStream out = System.out;

  /** Where {@code record} reads JSON lines. */
  java.io.InputStream in = System.in;

  /** Where commands say what they did besides their JSON (stdout stays machine-readable). */
  PrintStream err = System.err;

  public static void main(String[] args) {
    System.exit(execute(args, System.out, System.err, System.getenv()));
  }

  /** Runs one command; returns its exit code. */
  public static int execute(String[] args, PrintStream out, PrintStream err, Map<String, String> env) {
    return execute(args, System.in, out, err, env);
  }

  /** Runs one command with the given standard input; returns its exit code. */
  public static int execute(String[] args, java.io.InputStream in, PrintStream out, PrintStream err,
      Map<String, String> env) {
    Main main = new Main();
    main.in = in;
    main.env = env;
    main.out = out;
    main.err = err;
    CommandLine cli = new CommandLine(main);
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    cli.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
      err.println(ExitCodes.message(e));
      if (ExitCodes.of(e) == ExitCodes.INTERNAL) {
        e.printStackTrace(err);
      }
      return ExitCodes.of(e);
    });
    return cli.execute(args);
  }

  Context context() {
    return Context.create(this);
  }
}
