package dev.meterd.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code meterd serve} as a process of its own (the jar {@code mvn verify} builds), its output in a
 * log file: for tests that kill, freeze and resume a daemon as an operator's machine would.
 */
public final class DaemonProcess implements AutoCloseable {

  private static final String JAVA = Path.of(System.getProperty("java.home"), "bin", "java").toString();
  private static final Pattern HOLDER = Pattern.compile("sharing the nodes with the other daemons of this database as (\\S+)");

  private final String name;
  private final Process process;
  private final Path log;

  private DaemonProcess(String name, Process process, Path log) {
    this.name = name;
    this.process = process;
    this.log = log;
  }

  /** Starts {@code meterd serve --config config} with {@code env} added to the environment. */
  public static DaemonProcess start(String name, Path config, Path logDir, Map<String, String> env) throws IOException {
    Path log = logDir.resolve(name + ".log");
    List<String> cmd = new ArrayList<>(List.of(JAVA, "-Xmx256m", "-jar",
        Path.of("target", "meterd.jar").toAbsolutePath().toString(), "serve", "--config", config.toString()));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    pb.environment().putAll(env);
    return new DaemonProcess(name, pb.start(), log);
  }

  public String name() {
    return name;
  }

  public String output() {
    try {
      return Files.exists(log) ? Files.readString(log, StandardCharsets.UTF_8) : "";
    } catch (IOException e) {
      throw new IllegalStateException("cannot read the log of daemon " + name + ": " + e.getMessage(), e);
    }
  }

  /** Its name in the leases, once it has said it (waits for it). */
  public String holder() {
    awaitOutput(HOLDER.pattern());
    Matcher m = HOLDER.matcher(output());
    m.find();
    return m.group(1);
  }

  /** Waits until its log matches {@code regex}; fails if it exits first or a minute passes. */
  public void awaitOutput(String regex) {
    Pattern p = Pattern.compile(regex);
    await("daemon " + name + " to log /" + regex + "/", () -> p.matcher(output()).find());
  }

  /** SIGKILL: no shutdown, no give-back, its leases lapse. */
  public void kill() throws InterruptedException {
    process.destroyForcibly();
    process.waitFor();
  }

  /** SIGSTOP: frozen, as by a long GC pause or a stalled disk. */
  public void freeze() throws IOException, InterruptedException {
    signal("STOP");
  }

  /** SIGCONT: resumed where it froze. */
  public void thaw() throws IOException, InterruptedException {
    signal("CONT");
  }

  private void signal(String signal) throws IOException, InterruptedException {
    Process kill = new ProcessBuilder("kill", "-" + signal, Long.toString(process.pid())).inheritIO().start();
    if (kill.waitFor() != 0) {
      throw new IllegalStateException("kill -" + signal + " " + process.pid() + " failed");
    }
  }

  /** SIGTERM, and waits for the clean stop: the run in flight finishes, the leases are given back. */
  public int stop() throws InterruptedException {
    process.destroy();
    return process.waitFor();
  }

  @Override
  public void close() throws Exception {
    if (process.isAlive()) {
      signal("CONT");
      process.destroyForcibly();
      process.waitFor();
    }
  }

  /** Polls {@code condition} until it holds; fails after {@code limit}. */
  public static void await(String what, Duration limit, BooleanSupplier condition) {
    long deadline = System.nanoTime() + limit.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("gave up waiting for " + what + " after " + limit.toSeconds() + " s");
      }
      try {
        Thread.sleep(50);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError("interrupted waiting for " + what);
      }
    }
  }

  private void await(String what, BooleanSupplier condition) {
    await(what, Duration.ofMinutes(1), () -> {
      if (condition.getAsBoolean()) {
        return true;
      }
      if (!process.isAlive()) {
        throw new AssertionError("daemon " + name + " exited (" + process.exitValue() + ") before " + what + ":\n"
            + output());
      }
      return false;
    });
  }
}
