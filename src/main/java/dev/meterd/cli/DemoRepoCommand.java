package dev.meterd.cli;

import dev.meterd.edge.BatchText;
import dev.meterd.source.git.GitBatchSource;
import dev.meterd.source.git.RepoCommitter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "demo-repo", mixinStandardHelpOptions = true,
    description = {"Creates a small example usage repository (a bare git repository with three nodes) "
        + "to run meterd against.",
        "PATH defaults to the configured source, which must then be a local path."})
final class DemoRepoCommand implements Callable<Integer> {

  static final String[] USERS = {"u_alice", "u_bob", "u_carol"};
  static final String[] NODES = {"edge-eu-1", "edge-us-1", "edge-ap-1"};

  @ParentCommand
  Main main;

  @Parameters(arity = "0..1", paramLabel = "PATH", description = "Where to create the repository")
  Path path;

  @Override
  public Integer call() throws IOException {
    Path target = path;
    try (Context ctx = main.context()) {
      if (target == null) {
        String configured = ctx.config.source().url();
        if (GitBatchSource.isUrl(configured)) {
          throw new UsageException("the configured source " + configured + " is a URL; name a local PATH");
        }
        target = Path.of(configured);
      }
      String branch = ctx.config.source().branch();
      if (Files.exists(target) && Files.list(target).findAny().isPresent()) {
        throw new UsageException(target + " exists and is not empty; remove it or name another PATH");
      }
      Instant hour = ctx.clock.instant().truncatedTo(ChronoUnit.HOURS).minus(2, ChronoUnit.HOURS);
      try (RepoCommitter repo = RepoCommitter.initBare(target, branch)) {
        for (int h = 0; h < 2; h++) {
          Instant at = hour.plus(h, ChronoUnit.HOURS);
          Map<String, byte[]> files = new LinkedHashMap<>();
          for (int n = 0; n < NODES.length; n++) {
            files.put(BatchText.path(NODES[n], at), UsageFiles.batch(NODES[n], at, 5, n * 7 + h).getBytes(StandardCharsets.UTF_8));
          }
          repo.commit("usage for " + at, files, Set.of(), at.plus(59, ChronoUnit.MINUTES));
        }
      }
      ctx.note("created the usage repository " + target + " (branch " + branch + ", nodes "
          + String.join(", ", NODES) + ")");
      return ExitCodes.OK;
    }
  }
}
