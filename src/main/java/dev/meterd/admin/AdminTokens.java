package dev.meterd.admin;

import dev.meterd.config.ConfigException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The bearer tokens: {@code METERD_ADMIN_TOKEN} (named {@code admin}, role admin) and the named
 * tokens of {@code [admin] tokens_file}, one a line:
 *
 * <pre>
 * NAME:TOKEN              an admin token (the format before roles, unchanged)
 * admin NAME:TOKEN        the same, the role named
 * authorize NAME:TOKEN    a gateway's token: only /v1/... (authorize and holds)
 * </pre>
 *
 * A name stands for one role ({@code admin} is METERD_ADMIN_TOKEN's, an admin's): several lines
 * may give one name and one role (a secret being rotated), never two roles.
 *
 * <p>The role comes first, before a space, so an old line keeps its meaning whatever its token
 * holds (a token may contain ':'); a name cannot contain a space, so no old line looks like a
 * role. Only SHA-256 digests are kept in memory; a presented token is hashed and compared with
 * every digest in constant time, so neither the time nor the answer tells how close a guess was.
 */
public final class AdminTokens {

  public static final String ENV = "METERD_ADMIN_TOKEN";
  public static final String ENV_NAME = "admin";
  static final int MIN_TOKEN_CHARS = 16;
  private static final Pattern NAME = Pattern.compile("[A-Za-z0-9._-]{1,64}");

  /** What a token may call. */
  public enum Role {
    /** Everything. */
    ADMIN,
    /** Only {@code /v1/...}: authorize and holds. */
    AUTHORIZE;

    /** The word a line of the tokens file names it with. */
    String word() {
      return name().toLowerCase(Locale.ROOT);
    }

    static Role of(String word) {
      return switch (word) {
        case "admin" -> ADMIN;
        case "authorize" -> AUTHORIZE;
        default -> null;
      };
    }
  }

  /** Who presented a token: its name (the {@code initiated_by} of what it does) and its role. */
  public record Principal(String name, Role role) {}

  private record Entry(Principal principal, byte[] digest) {}

  /** The role a name was first given, and where: a line of the tokens file, or 0 for METERD_ADMIN_TOKEN. */
  private record NameUse(Role role, int line) {}

  private final List<Entry> entries;

  private AdminTokens(List<Entry> entries) {
    this.entries = List.copyOf(entries);
  }

  /**
   * Loads the tokens; every malformed line, short token, or name given under two roles is refused,
   * all listed.
   */
  public static AdminTokens load(Map<String, String> env, Path tokensFile) {
    List<Entry> entries = new ArrayList<>();
    List<String> problems = new ArrayList<>();
    String fromEnv = env.get(ENV);
    if (fromEnv != null && !fromEnv.isEmpty()) {
      if (fromEnv.length() < MIN_TOKEN_CHARS) {
        problems.add(ENV + " must be at least " + MIN_TOKEN_CHARS + " characters");
      } else {
        entries.add(new Entry(new Principal(ENV_NAME, Role.ADMIN), digest(fromEnv)));
      }
    }
    if (tokensFile != null) {
      fileLines(tokensFile, entries, problems);
    }
    if (!problems.isEmpty()) {
      throw new ConfigException("of the admin tokens", problems);
    }
    return new AdminTokens(entries);
  }

  /** The entries of the tokens file's lines, or their problems. */
  private static void fileLines(Path tokensFile, List<Entry> entries, List<String> problems) {
    List<String> lines;
    try {
      lines = Files.readAllLines(tokensFile, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new ConfigException("[admin] tokens_file", List.of("cannot read " + tokensFile + ": " + e.getMessage()));
    }
    // A name stands for one role: a gateway named as an admin could release the admin's holds, and
    // the audit trail could not tell them apart. Several tokens of one name and role are a secret
    // being rotated. METERD_ADMIN_TOKEN's name is kept for it even while unset: it may be set later.
    Map<String, NameUse> names = new HashMap<>(Map.of(ENV_NAME, new NameUse(Role.ADMIN, 0)));
    for (int i = 0; i < lines.size(); i++) {
      String line = lines.get(i).strip();
      if (!line.isEmpty() && !line.startsWith("#")) {
        String where = tokensFile + " line " + (i + 1);
        Optional<Entry> entry = fileLine(where, line, problems);
        if (entry.isPresent() && nameFree(where, i + 1, entry.get().principal(), names, problems)) {
          entries.add(entry.get());
        }
      }
    }
  }

  /**
   * One line of the tokens file: its entry, or empty with a problem added (never quoting the line:
   * it holds a secret).
   */
  private static Optional<Entry> fileLine(String where, String line, List<String> problems) {
    Role role = Role.ADMIN;
    int space = line.indexOf(' ');
    int colon = line.indexOf(':');
    if (space >= 0 && (colon < 0 || space < colon)) {
      role = Role.of(line.substring(0, space));
      if (role == null) {
        problems.add(where + " must be NAME:TOKEN or ROLE NAME:TOKEN with ROLE admin or authorize");
        return Optional.empty();
      }
      line = line.substring(space + 1).strip();
      colon = line.indexOf(':');
    }
    String name = colon < 0 ? "" : line.substring(0, colon);
    String token = colon < 0 ? "" : line.substring(colon + 1);
    if (!NAME.matcher(name).matches()) {
      problems.add(where + " must be NAME:TOKEN with NAME of [A-Za-z0-9._-]");
    } else if (token.length() < MIN_TOKEN_CHARS) {
      problems.add(where + ": the token of " + name + " must be at least " + MIN_TOKEN_CHARS + " characters");
    } else {
      return Optional.of(new Entry(new Principal(name, role), digest(token)));
    }
    return Optional.empty();
  }

  /**
   * Whether the principal of line {@code lineNumber} may have its name: first given it, or given it
   * before with the same role; else false with a problem added.
   */
  private static boolean nameFree(String where, int lineNumber, Principal principal, Map<String, NameUse> names,
      List<String> problems) {
    NameUse first = names.putIfAbsent(principal.name(), new NameUse(principal.role(), lineNumber));
    if (first == null || first.role() == principal.role()) {
      return true;
    }
    // "an": both roles' words begin with a vowel.
    String owner = first.line() == 0 ? "is " + ENV + "'s, an " + first.role().word() + " token"
        : "is already an " + first.role().word() + " token's (line " + first.line() + ")";
    problems.add(where + ": the name " + principal.name() + " " + owner + "; give this " + principal.role().word()
        + " token another name, as a name stands for one role");
    return false;
  }

  public boolean isEmpty() {
    return entries.isEmpty();
  }

  /** The name of the presented token when it is an admin token; empty otherwise. */
  public Optional<String> authenticate(String presented) {
    return principal(presented).filter(p -> p.role() == Role.ADMIN).map(Principal::name);
  }

  /** Who the presented token names, whatever its role; empty when it matches none. */
  public Optional<Principal> principal(String presented) {
    if (presented == null) {
      return Optional.empty();
    }
    byte[] candidate = digest(presented);
    Principal match = null;
    for (Entry e : entries) {
      if (MessageDigest.isEqual(e.digest, candidate) && match == null) {
        match = e.principal;
      }
    }
    return Optional.ofNullable(match);
  }

  /** One digest per thread: looking the algorithm up costs about as much as hashing a token, on every request. */
  private static final ThreadLocal<MessageDigest> SHA_256 = ThreadLocal.withInitial(() -> {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java runtime has SHA-256", e);
    }
  });

  private static byte[] digest(String token) {
    // digest() resets the instance, so the next call on this thread starts afresh.
    return SHA_256.get().digest(token.getBytes(StandardCharsets.UTF_8));
  }
}
