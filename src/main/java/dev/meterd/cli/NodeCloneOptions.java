package dev.meterd.cli;

import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The options of the edge commands: which node, and where its clone of the usage repository is. */
final class NodeCloneOptions {

  @Option(names = "--node", required = true, paramLabel = "NODE", description = "The node's name (its folder)")
  String node;

  @Option(names = "--repo", required = true, paramLabel = "PATH", description = "The node's clone")
  Path repo;
}
