package dev.meterd.config;

import java.util.List;

/** The configuration is invalid; the message lists every problem found, one a line. */
public final class ConfigException extends RuntimeException {

  private final List<String> problems;

  public ConfigException(String where, List<String> problems) {
    super("invalid configuration " + where + ":\n  " + String.join("\n  ", problems));
    this.problems = List.copyOf(problems);
  }

  public List<String> problems() {
    return problems;
  }
}
