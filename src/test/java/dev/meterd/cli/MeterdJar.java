package dev.meterd.cli;

import dev.meterd.ledger.TestDatabase;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The jar {@code mvn verify} builds (target/meterd.jar), run as a process of its own on a test
 * database of either engine, as an operator runs it: the database named by a configuration file,
 * its password (on PostgreSQL) in the environment.
 */
final class MeterdJar {

  static final String JAVA = Path.of(System.getProperty("java.home"), "bin", "java").toString();
  static final String JAR = Path.of("target", "meterd.jar").toAbsolutePath().toString();

  private MeterdJar() {}

  /** {@code java [jvmOptions] -jar meterd.jar [args]}. */
  static List<String> command(List<String> jvmOptions, List<String> args) {
    List<String> cmd = new ArrayList<>(List.of(JAVA));
    cmd.addAll(jvmOptions);
    cmd.addAll(List.of("-jar", JAR));
    cmd.addAll(args);
    return cmd;
  }

  /**
   * Writes the configuration {@code file}: a {@code [storage]} section naming {@code db}, then
   * {@code moreSections} (whole sections, such as {@code [aggregator]}, or empty).
   */
  static Path config(Path file, TestDatabase db, String moreSections) throws IOException {
    return Files.writeString(file, "[storage]\n" + db.storageConfig() + "\n" + moreSections);
  }

  /** A process of {@code cmd} with {@code db}'s environment, everything it prints going to {@code log}. */
  static ProcessBuilder process(List<String> cmd, TestDatabase db, Path log) {
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
    pb.environment().putAll(db.environment());
    return pb;
  }
}
