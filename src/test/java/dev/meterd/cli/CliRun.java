package dev.meterd.cli;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * meterd's command line run in this process against one database, with what it printed.
 *
 * @param code the exit code
 * @param out what it wrote to stdout
 * @param err what it wrote to stderr
 */
record CliRun(int code, String out, String err) {

  /** Runs {@code args} with {@code --db db} added and no environment. */
  static CliRun on(Path db, String... args) {
    List<String> all = new ArrayList<>(List.of(args));
    all.addAll(List.of("--db", db.toString()));
    return withEnv(Map.of(), all.toArray(String[]::new));
  }

  /** Runs {@code args} as they are, with the environment {@code env}. */
  static CliRun withEnv(Map<String, String> env, String... args) {
    ByteArrayOutputStream o = new ByteArrayOutputStream();
    ByteArrayOutputStream e = new ByteArrayOutputStream();
    int code = Main.execute(args, new PrintStream(o, true, StandardCharsets.UTF_8),
        new PrintStream(e, true, StandardCharsets.UTF_8), env);
    return new CliRun(code, o.toString(StandardCharsets.UTF_8), e.toString(StandardCharsets.UTF_8));
  }
}
