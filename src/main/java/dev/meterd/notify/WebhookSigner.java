package dev.meterd.notify;

import dev.meterd.config.ConfigException;
import java.nio.charset.StandardCharsets;
import java.security.InvalidKeyException;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Signs webhook requests per the Standard Webhooks convention: {@code webhook-signature} is
 * {@code v1,} and the base64 HMAC-SHA256 of {@code <webhook-id>.<webhook-timestamp>.<body>},
 * keyed with the bytes that the secret {@code whsec_<base64>} encodes, so receivers can verify
 * with the convention's libraries. The key is never part of a message.
 */
public final class WebhookSigner {

  /** The environment variable holding the secret. */
  public static final String ENV = "METERD_WEBHOOK_SECRET";
  static final String PREFIX = "whsec_";
  /** The convention's bounds on the key: 24 to 64 bytes. */
  static final int MIN_KEY_BYTES = 24;
  static final int MAX_KEY_BYTES = 64;
  private static final String ALGORITHM = "HmacSHA256";

  private final SecretKeySpec key;

  private WebhookSigner(byte[] key) {
    this.key = new SecretKeySpec(key, ALGORITHM);
  }

  /** The signer of {@code METERD_WEBHOOK_SECRET}, or empty when it is unset or empty. */
  public static Optional<WebhookSigner> fromEnv(Map<String, String> env) {
    String secret = env.get(ENV);
    if (secret == null || secret.isBlank()) {
      return Optional.empty();
    }
    return Optional.of(fromSecret(secret.strip()));
  }

  /**
   * Parses a secret {@code whsec_<base64 key>}.
   *
   * @throws ConfigException it is not of that form, or its key is not 24 to 64 bytes
   */
  public static WebhookSigner fromSecret(String secret) {
    String how = "; make one with: echo whsec_$(openssl rand -base64 32)";
    if (!secret.startsWith(PREFIX)) {
      throw new ConfigException(ENV, List.of(ENV + " must be whsec_ followed by a base64 key" + how));
    }
    byte[] key;
    try {
      key = Base64.getDecoder().decode(secret.substring(PREFIX.length()));
    } catch (IllegalArgumentException e) {
      throw new ConfigException(ENV, List.of("the part of " + ENV + " after whsec_ is not valid base64" + how));
    }
    if (key.length < MIN_KEY_BYTES || key.length > MAX_KEY_BYTES) {
      throw new ConfigException(ENV, List.of("the key of " + ENV + " must be " + MIN_KEY_BYTES + " to "
          + MAX_KEY_BYTES + " bytes, it has " + key.length + how));
    }
    return new WebhookSigner(key);
  }

  /** The {@code webhook-signature} header's value for one attempt. */
  public String signature(String eventId, long timestampSeconds, String body) {
    try {
      Mac mac = Mac.getInstance(ALGORITHM);
      mac.init(key);
      byte[] digest = mac.doFinal((eventId + "." + timestampSeconds + "." + body).getBytes(StandardCharsets.UTF_8));
      return "v1," + Base64.getEncoder().encodeToString(digest);
    } catch (NoSuchAlgorithmException | InvalidKeyException e) {
      // Every Java runtime has HmacSHA256, and any key length fits it.
      throw new IllegalStateException("cannot compute HmacSHA256", e);
    }
  }
}
