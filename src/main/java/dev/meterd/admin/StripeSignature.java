package dev.meterd.admin;

import java.nio.charset.StandardCharsets;
import java.security.InvalidKeyException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Verifies a payment provider's {@code Stripe-Signature} header, as Stripe's own libraries do:
 * {@code t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">}, keyed with the endpoint's
 * secret as given (the bytes of the {@code whsec_...} string, not decoded). Any of several
 * {@code v1} values may match, so that events signed during a secret's rotation pass; other
 * schemes ({@code v0}) are passed over. Unlike Stripe's libraries, a timestamp too far ahead
 * is refused as well as one too old: a clock that far off is worth an error either way.
 */
final class StripeSignature {

  static final String HEADER = "Stripe-Signature";
  static final Duration TOLERANCE = Duration.ofMinutes(5);
  static final String FORM = "t=<unix seconds>,v1=<hex signature>[,v1=...]";

  /** Why an event was refused; its message is safe to answer and log (it holds no body). */
  static final class Refused extends Exception {
    Refused(String message) {
      super(message, null, false, false);
    }
  }

  private record Header(long timestamp, List<String> signatures) {}

  private final SecretKeySpec key;
  private final Clock clock;

  StripeSignature(String secret, Clock clock) {
    this.key = new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256");
    this.clock = clock;
  }

  /**
   * Passes when one {@code v1} signature of the one header sent is the body's, made within
   * {@link #TOLERANCE} of this clock.
   *
   * @param headers every {@code Stripe-Signature} header of the request
   * @throws Refused naming what is wrong
   */
  void verify(byte[] body, List<String> headers) throws Refused {
    if (headers.isEmpty()) {
      throw new Refused("the request has no " + HEADER + " header; payment events must be signed by the provider");
    }
    if (headers.size() > 1) {
      throw new Refused("send the " + HEADER + " header once, not " + headers.size() + " times");
    }
    Header header = parse(headers.get(0));
    byte[] expected = sign(header.timestamp(), body).getBytes(StandardCharsets.US_ASCII);
    boolean matched = false;
    for (String signature : header.signatures()) {
      // Every value is compared, in constant time, so the time taken tells nothing of a near miss.
      matched |= MessageDigest.isEqual(expected, signature.getBytes(StandardCharsets.US_ASCII));
    }
    if (!matched) {
      throw new Refused("no v1 signature of the " + HEADER + " header matches the body; the event was not sent by "
          + "the provider, or was changed, or METERD_PAYMENT_WEBHOOK_SECRET is not this endpoint's signing secret");
    }
    long skewSeconds = Math.abs(clock.instant().getEpochSecond() - header.timestamp());
    if (skewSeconds > TOLERANCE.toSeconds()) {
      throw new Refused("the " + HEADER + " timestamp " + header.timestamp() + " is " + skewSeconds
          + " seconds from this server's clock, more than the " + TOLERANCE.toSeconds() + " allowed; a replayed or "
          + "delayed event is refused (if every event is, check the server's clock)");
    }
  }

  /** The hex {@code v1} signature of {@code body} at {@code timestamp}: what the provider sends. */
  String sign(long timestamp, byte[] body) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(key);
      mac.update((timestamp + ".").getBytes(StandardCharsets.US_ASCII));
      return HexFormat.of().formatHex(mac.doFinal(body));
    } catch (NoSuchAlgorithmException | InvalidKeyException e) {
      throw new IllegalStateException("every Java runtime has HmacSHA256", e);
    }
  }

  /** The header's one timestamp and its v1 signatures; other items are passed over. */
  private static Header parse(String value) throws Refused {
    Long timestamp = null;
    List<String> signatures = new ArrayList<>();
    for (String item : value.split(",", -1)) {
      int eq = item.indexOf('=');
      String name = eq < 0 ? item : item.substring(0, eq);
      String content = eq < 0 ? "" : item.substring(eq + 1);
      if (name.equals("t")) {
        if (timestamp != null || !content.matches("[0-9]{1,12}")) {
          throw new Refused("the " + HEADER + " header must name one timestamp t, in unix seconds: " + FORM);
        }
        timestamp = Long.parseLong(content);
      } else if (name.equals("v1")) {
        signatures.add(content);
      }
    }
    if (timestamp == null || signatures.isEmpty()) {
      throw new Refused("the " + HEADER + " header must be " + FORM);
    }
    return new Header(timestamp, signatures);
  }
}
