package dev.meterd.admin;

import dev.meterd.config.ConfigException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The admin tokens: {@code METERD_ADMIN_TOKEN} (named {@code admin}) and the named tokens of
 * {@code [admin] tokens_file}, one {@code name:token} a line. Only SHA-256 digests are kept in
 * memory; a presented token is hashed and compared with every digest in constant time, so
 * neither the time nor the answer tells how close a guess was.
 */
public final class AdminTokens {

  public static final String ENV = "METERD_ADMIN_TOKEN";
  public static final String ENV_NAME = "admin";
  static final int MIN_TOKEN_CHARS = 16;
  private static final Pattern NAME = Pattern.compile("[A-Za-z0-9._-]{1,64}");

  private record Entry(String name, byte[] digest) {}

  private final List<Entry> entries;

  private AdminTokens(List<Entry> entries) {
    this.entries = List.copyOf(entries);
  }

  /** Loads the tokens; every malformed line or short token is refused, all listed. */
  public static AdminTokens load(Map<String, String> env, Path tokensFile) {
    List<Entry> entries = new ArrayList<>();
    List<String> problems = new ArrayList<>();
    String fromEnv = env.get(ENV);
    if (fromEnv != null && !fromEnv.isEmpty()) {
      if (fromEnv.length() < MIN_TOKEN_CHARS) {
        problems.add(ENV + " must be at least " + MIN_TOKEN_CHARS + " characters");
      } else {
        entries.add(new Entry(ENV_NAME, digest(fromEnv)));
      }
    }
    if (tokensFile != null) {
      List<String> lines;
      try {
        lines = Files.readAllLines(tokensFile, StandardCharsets.UTF_8);
      } catch (IOException e) {
        throw new ConfigException("[admin] tokens_file", List.of("cannot read " + tokensFile + ": " + e.getMessage()));
      }
      for (int i = 0; i < lines.size(); i++) {
        String line = lines.get(i).strip();
        if (line.isEmpty() || line.startsWith("#")) {
          continue;
        }
        int colon = line.indexOf(':');
        String name = colon < 0 ? "" : line.substring(0, colon);
        String token = colon < 0 ? "" : line.substring(colon + 1);
        // The line's text is never quoted back: it holds a secret.
        if (!NAME.matcher(name).matches()) {
          problems.add(tokensFile + " line " + (i + 1) + " must be NAME:TOKEN with NAME of [A-Za-z0-9._-]");
        } else if (token.length() < MIN_TOKEN_CHARS) {
          problems.add(tokensFile + " line " + (i + 1) + ": the token of " + name + " must be at least "
              + MIN_TOKEN_CHARS + " characters");
        } else {
          entries.add(new Entry(name, digest(token)));
        }
      }
    }
    if (!problems.isEmpty()) {
      throw new ConfigException("of the admin tokens", problems);
    }
    return new AdminTokens(entries);
  }

  public boolean isEmpty() {
    return entries.isEmpty();
  }

  /** The name of the presented token, or empty when it matches none. */
  public Optional<String> authenticate(String presented) {
    if (presented == null) {
      return Optional.empty();
    }
    byte[] candidate = digest(presented);
    String match = null;
    for (Entry e : entries) {
      if (MessageDigest.isEqual(e.digest, candidate) && match == null) {
        match = e.name;
      }
    }
    return Optional.ofNullable(match);
  }

  private static byte[] digest(String token) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java runtime has SHA-256", e);
    }
  }
}
