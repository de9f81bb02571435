package dev.meterd.admin;

import dev.meterd.ledger.Idempotent;
import io.vertx.ext.web.RoutingContext;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The {@code Idempotency-Key} of money-moving requests (the interface spec's "Money-moving
 * requests are idempotent"), as Stripe's API has it: the same key with the same request answers
 * what the first answered and moves nothing; the same key with another request is refused.
 *
 * <p>Keys are global, not per token: a key names one operation, whoever retries it (two
 * operators granting the same welcome credit under one key grant it once). A request is its
 * method, its path and its body in canonical form, hashed: not the bytes sent, so that a client
 * that writes its JSON differently on a retry, and {@code wallet grant} beside the HTTP API,
 * send the same request.
 */
public final class IdempotencyKey {

  public static final String HEADER = "Idempotency-Key";
  /** Set on an answer that is the stored one, as it was first given. */
  public static final String REPLAYED_HEADER = "Idempotent-Replayed";
  public static final int MAX_CHARS = 200;
  /**
   * Printable ASCII; not starting or ending with a space, which HTTP would strip on the way, so
   * that a key means the same over HTTP and on the command line.
   */
  private static final Pattern VALID = Pattern.compile("[\\x21-\\x7e]([\\x20-\\x7e]{0," + (MAX_CHARS - 2)
      + "}[\\x21-\\x7e])?");
  /** What a valid key is made of. */
  static final String CHARS = "1 to " + MAX_CHARS + " printable ASCII characters, not starting or ending with a space";
  public static final String RULE = "must be " + CHARS;

  private IdempotencyKey() {}

  public static boolean valid(String key) {
    return VALID.matcher(key).matches();
  }

  /**
   * The request's key, or empty when it sent none.
   *
   * @throws ApiException 400 for a key sent twice or not of the rule
   */
  static Optional<String> of(RoutingContext ctx) {
    List<String> keys = ctx.request().headers().getAll(HEADER);
    if (keys.isEmpty()) {
      return Optional.empty();
    }
    if (keys.size() > 1) {
      throw new ApiException(400, "send the " + HEADER + " header once, not " + keys.size() + " times");
    }
    if (!valid(keys.get(0))) {
      throw new ApiException(400, "the " + HEADER + " header " + RULE);
    }
    return Optional.of(keys.get(0));
  }

  /** The claim of {@code key} on the request {@code method path body}, where body is canonical JSON. */
  static Idempotent.Claim claim(String key, String method, String path, String canonicalBody,
      String initiatedBy) {
    try {
      byte[] digest = MessageDigest.getInstance("SHA-256")
          .digest((method + "\n" + path + "\n" + canonicalBody).getBytes(StandardCharsets.UTF_8));
      return new Idempotent.Claim(key, HexFormat.of().formatHex(digest), initiatedBy);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java runtime has SHA-256", e);
    }
  }

  /**
   * The path of a money-moving request on a wallet, as a claim names it. Any one-to-one encoding
   * of the user serves; this is the form a client would send.
   */
  static String walletPath(String userSid, String action) {
    return "/admin/wallets/" + URLEncoder.encode(userSid, StandardCharsets.UTF_8) + "/" + action;
  }

  static String reusedMessage(String key) {
    return "the " + HEADER + " \"" + key + "\" was used before with another request (another method, path or body), "
        + "so this one was not applied; send a new key for a new request";
  }
}
