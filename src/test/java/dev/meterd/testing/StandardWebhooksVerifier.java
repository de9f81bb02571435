package dev.meterd.testing;

import com.github.tomakehurst.wiremock.verification.LoggedRequest;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * A receiver's verification of a Standard Webhooks request, written from the specification
 * (standardwebhooks.com, "Verifying webhook authenticity") and independent of meterd's signer:
 * the secret is {@code whsec_} and a base64 key; the signed content is
 * {@code <webhook-id>.<webhook-timestamp>.<body>}; {@code webhook-signature} is a space-separated
 * list of {@code v1,<base64 HMAC-SHA256>}, any of which may match; the timestamp must be within
 * the tolerance of the receiver's clock (five minutes, as the reference libraries use).
 */
public final class StandardWebhooksVerifier {

  public static final Duration TOLERANCE = Duration.ofMinutes(5);

  private final byte[] key;

  public StandardWebhooksVerifier(String secret) {
    if (!secret.startsWith("whsec_")) {
      throw new IllegalArgumentException("a Standard Webhooks secret starts with whsec_");
    }
    this.key = Base64.getDecoder().decode(secret.substring("whsec_".length()));
  }

  /**
   * A request WireMock received, verified as a receiver verifies it at the moment it was sent, as
   * JSON: its {@code webhook-id} must be its event's id, and its body JSON.
   */
  public JsonObject event(LoggedRequest r) {
    verify(r.getHeader("webhook-id"), r.getHeader("webhook-timestamp"), r.getHeader("webhook-signature"),
        r.getBodyAsString(), Instant.ofEpochSecond(Long.parseLong(r.getHeader("webhook-timestamp"))));
    if (!"application/json".equals(r.getHeader("Content-Type"))) {
      throw new AssertionError("Content-Type is " + r.getHeader("Content-Type") + ", not application/json");
    }
    JsonObject event = new JsonObject(r.getBodyAsString());
    if (!r.getHeader("webhook-id").equals(event.getString("id"))) {
      throw new AssertionError("webhook-id " + r.getHeader("webhook-id") + " is not the event's id " + event.getString("id"));
    }
    return event;
  }

  /** Throws an AssertionError saying which check failed, unless the request is authentic and fresh. */
  public void verify(String id, String timestamp, String signatureHeader, String body, Instant now) {
    if (id == null || timestamp == null || signatureHeader == null) {
      throw new AssertionError("missing webhook-id, webhook-timestamp or webhook-signature");
    }
    long seconds = Long.parseLong(timestamp);
    if (Math.abs(now.getEpochSecond() - seconds) > TOLERANCE.toSeconds()) {
      throw new AssertionError("webhook-timestamp " + timestamp + " is outside the tolerance of " + now);
    }
    byte[] expected = hmac(id + "." + timestamp + "." + body);
    for (String candidate : signatureHeader.split(" ")) {
      int comma = candidate.indexOf(',');
      if (comma < 0 || !candidate.substring(0, comma).equals("v1")) {
        continue;
      }
      byte[] given = Base64.getDecoder().decode(candidate.substring(comma + 1));
      if (MessageDigest.isEqual(expected, given)) {
        return;
      }
    }
    throw new AssertionError("no v1 signature in \"" + signatureHeader + "\" matches");
  }

  private byte[] hmac(String content) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(key, "HmacSHA256"));
      return mac.doFinal(content.getBytes(StandardCharsets.UTF_8));
    } catch (java.security.GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }
}
