package dev.meterd.testing;

import static java.nio.charset.StandardCharsets.UTF_8;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * A throwaway PostgreSQL cluster from the machine's own binaries: {@code initdb} into a fresh
 * temporary directory, the server on a loopback port with its unix socket inside that directory,
 * stopped and removed by {@link #close()}.
 *
 * <p>initdb and the server refuse to run as root, so a root JVM (CI's) runs them as the user
 * {@code postgres}, which Debian's package creates, and hands that user the directory. Durability
 * is off (fsync, full-page writes): a crash of a test machine loses only test data.
 */
public final class LocalPostgresCluster implements AutoCloseable {

  static final Path DEBIAN_VERSIONS = Path.of("/usr/lib/postgresql");
  static final String SUPERUSER = "postgres";
  private static final String OS_USER = "postgres";
  /** Seconds pg_ctl waits for the server to start or stop; generous, for a loaded 2-core machine. */
  private static final int PG_CTL_WAIT_SECONDS = 120;
  /** How much of the server's log an error carries: its end, where a failed start or stop says why. */
  private static final int SERVER_LOG_TAIL_CHARS = 4000;

  private final Path binDir;
  private final Path dir;
  private final boolean asRoot;
  private final int port;
  private final String password;
  /** Whether {@link #stop()} stopped the server (and no {@link #start()} since): {@link #close()} has none to stop. */
  private boolean stopped;

  private LocalPostgresCluster(Path binDir, Path dir, boolean asRoot, int port, String password) {
    this.binDir = binDir;
    this.dir = dir;
    this.asRoot = asRoot;
    this.port = port;
    this.password = password;
  }

  /**
   * The directory of initdb and pg_ctl: the newest version under {@code versionsRoot}
   * ({@code <version>/bin}, Debian's layout), else what {@code pgConfig --bindir} names.
   */
  static Path findBinDir(Path versionsRoot, String pgConfig) {
    return newestVersionUnder(versionsRoot).or(() -> fromPgConfig(pgConfig)).orElseThrow(() ->
        new IllegalStateException("No PostgreSQL server binaries (initdb, pg_ctl) were found in " + versionsRoot
            + "/*/bin or by " + pgConfig + " --bindir; install PostgreSQL's server (Debian: apt-get install"
            + " postgresql) or set " + TestPostgres.URL_VARIABLE + " to the JDBC URL of a server the tests may"
            + " create databases on."));
  }

  private static Optional<Path> newestVersionUnder(Path versionsRoot) {
    if (!Files.isDirectory(versionsRoot)) {
      return Optional.empty();
    }
    try (Stream<Path> versions = Files.list(versionsRoot)) {
      return versions.filter(v -> v.getFileName().toString().matches("\\d+(\\.\\d+)*"))
          .filter(v -> hasServerBinaries(v.resolve("bin")))
          .max(Comparator.comparing(LocalPostgresCluster::versionNumbers, Arrays::compare))
          .map(v -> v.resolve("bin"));
    } catch (IOException e) {
      throw new UncheckedIOException("Could not list " + versionsRoot + " for PostgreSQL's binaries", e);
    }
  }

  private static int[] versionNumbers(Path versionDir) {
    return Arrays.stream(versionDir.getFileName().toString().split("\\.")).mapToInt(Integer::parseInt).toArray();
  }

  private static Optional<Path> fromPgConfig(String pgConfig) {
    try {
      Process p = new ProcessBuilder(pgConfig, "--bindir").redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes(), UTF_8).strip();
      return p.waitFor() == 0 && hasServerBinaries(Path.of(out)) ? Optional.of(Path.of(out)) : Optional.empty();
    } catch (IOException notOnPath) {
      return Optional.empty();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("Interrupted while asking " + pgConfig + " for PostgreSQL's binaries", e);
    }
  }

  private static boolean hasServerBinaries(Path binDir) {
    return Files.isExecutable(binDir.resolve("initdb")) && Files.isExecutable(binDir.resolve("pg_ctl"));
  }

  static int freeLoopbackPort() {
    try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      return probe.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException("Could not find a free TCP port on 127.0.0.1 for PostgreSQL", e);
    }
  }

  /**
   * A cluster of the caller's own, not the one {@link TestPostgres} shares, on a free port: for a
   * test that stops and starts its server. The caller closes it.
   */
  public static LocalPostgresCluster startOwn() {
    return start(findBinDir(DEBIAN_VERSIONS, "pg_config"), freeLoopbackPort());
  }

  /** Creates a cluster in a fresh temporary directory and starts its server on 127.0.0.1:{@code port}. */
  static LocalPostgresCluster start(Path binDir, int port) {
    LocalPostgresCluster cluster = create(binDir, port);
    try {
      cluster.initdb();
      cluster.configure();
      cluster.start();
      return cluster;
    } catch (RuntimeException e) {
      // pg_ctl may have given up waiting on a server that still came up: stop it, if any, too.
      try {
        cluster.close();
      } catch (RuntimeException cleanup) {
        e.addSuppressed(cleanup);
      }
      throw e;
    }
  }

  private static LocalPostgresCluster create(Path binDir, int port) {
    try {
      Path dir = Files.createTempDirectory("meterd-pg-");
      boolean asRoot = (Integer) Files.getAttribute(dir, "unix:uid") == 0;
      if (asRoot) {
        Files.setOwner(dir, dir.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName(OS_USER));
      }
      return new LocalPostgresCluster(binDir, dir, asRoot, port, HexFormat.of().formatHex(randomBytes()));
    } catch (IOException e) {
      throw new UncheckedIOException("Could not prepare a directory for a throwaway PostgreSQL (as root it"
          + " belongs to the user " + OS_USER + ", which PostgreSQL's package creates)", e);
    }
  }

  private static byte[] randomBytes() {
    byte[] bytes = new byte[16];
    new SecureRandom().nextBytes(bytes);
    return bytes;
  }

  /** Local (socket) connections are trusted, TCP ones need the password: tests connect over TCP. */
  private void initdb() {
    Path pwfile = dir.resolve("pwfile");
    try {
      Files.writeString(pwfile, password + "\n");
      run("initdb", List.of("-D", dataDir().toString(), "-U", SUPERUSER, "--pwfile=" + pwfile, "-E", "UTF8",
          "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync"));
      Files.delete(pwfile);
    } catch (IOException e) {
      throw new UncheckedIOException("Could not write or remove the password file " + pwfile, e);
    }
  }

  private void configure() {
    String settings = String.join("\n", "",
        "listen_addresses = '127.0.0.1'",
        "port = " + port,
        "unix_socket_directories = '" + dir + "'",
        "max_connections = 200",
        "fsync = off",
        "synchronous_commit = off",
        "full_page_writes = off", "");
    Path conf = dataDir().resolve("postgresql.conf");
    try {
      Files.writeString(conf, settings, StandardOpenOption.APPEND);
    } catch (IOException e) {
      throw new UncheckedIOException("Could not write the test settings to " + conf, e);
    }
  }

  /**
   * Stops the server at once, as an operator's restart does: its connections are cut (their
   * clients see the server end them), and the data and the port stay for {@link #start()}.
   */
  public void stop() {
    pgCtl("stop", "-m", "fast");
    stopped = true;
  }

  /** Starts the server on its data and port; returns once it accepts connections. */
  public void start() {
    pgCtl("start", "-l", dir.resolve("server.log").toString());
    stopped = false;
  }

  /** Starts the server if a test stopped it: a failed test must not leave the next one without. */
  public void startIfStopped() {
    if (stopped) {
      start();
    }
  }

  /** The server's port on 127.0.0.1. */
  public int port() {
    return port;
  }

  /** A new, empty database on this cluster, as its superuser. */
  public TestPostgres.Database freshDatabase() {
    return server().freshDatabase();
  }

  /** The server as its superuser, with the maintenance database {@code postgres} for CREATE DATABASE. */
  PostgresServer server() {
    return new PostgresServer("jdbc:postgresql://127.0.0.1:" + port + "/postgres", SUPERUSER, password,
        "the throwaway PostgreSQL server in " + dir, "see its log " + dir.resolve("server.log"));
  }

  /** Stops the server at once, if it runs (open connections are cut), and removes its directory. */
  @Override
  public void close() {
    try {
      if (!stopped) {
        pgCtl("stop", "-m", "fast");
      }
    } finally {
      deleteDirectory();
    }
  }

  private void pgCtl(String action, String... options) {
    List<String> args = new ArrayList<>(List.of(action, "-D", dataDir().toString(), "-w", "-t",
        String.valueOf(PG_CTL_WAIT_SECONDS)));
    args.addAll(List.of(options));
    run("pg_ctl", args);
  }

  private Path dataDir() {
    return dir.resolve("data");
  }

  /** Runs one of the binaries (as {@value #OS_USER} when root); a failure carries its output and the server's log. */
  private void run(String program, List<String> args) {
    List<String> command = new ArrayList<>();
    if (asRoot) {
      command.addAll(List.of("runuser", "-u", OS_USER, "--"));
    }
    command.add(binDir.resolve(program).toString());
    command.addAll(args);
    try {
      // The server that pg_ctl starts writes to its log file, not to this pipe, so the pipe ends with pg_ctl.
      Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
      String output = new String(p.getInputStream().readAllBytes(), UTF_8).strip();
      int exit = p.waitFor();
      if (exit != 0) {
        throw new IllegalStateException(String.join(" ", command) + " failed with exit code " + exit + ": "
            + output + serverLog() + "; fix the cause above or set " + TestPostgres.URL_VARIABLE
            + " to the JDBC URL of a server the tests may create databases on.");
      }
    } catch (IOException e) {
      throw new UncheckedIOException("Could not run " + command.get(0) + " for a throwaway PostgreSQL", e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("Interrupted while running " + String.join(" ", command), e);
    }
  }

  private String serverLog() {
    Path log = dir.resolve("server.log");
    try {
      if (!Files.exists(log)) {
        return "";
      }
      String text = Files.readString(log).strip();
      return "\nserver log " + log + ":\n" + text.substring(Math.max(0, text.length() - SERVER_LOG_TAIL_CHARS));
    } catch (IOException e) {
      return "\n(the server log " + log + " could not be read: " + e.getMessage() + ")";
    }
  }

  private void deleteDirectory() {
    try (Stream<Path> paths = Files.walk(dir)) {
      for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("Could not remove the throwaway PostgreSQL directory " + dir, e);
    }
  }
}
