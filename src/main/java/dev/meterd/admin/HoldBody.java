package dev.meterd.admin;

import dev.meterd.batch.BatchParser;
import dev.meterd.batch.WireFormat;
import dev.meterd.ledger.HoldRequest;
import dev.meterd.ledger.Idempotent;
import io.vertx.core.json.Json;
import io.vertx.core.json.JsonObject;
import java.math.BigInteger;
import java.time.Duration;
import java.util.Set;

/**
 * The body of {@code POST /v1/holds}, validated: every member required, none unknown (a typo in a
 * money request must not pass as a default), each value of the wire format's own rules, so that
 * the record the hold waits for can exist.
 */
final class HoldBody {

  static final String SHAPE = "the body must be a JSON object {\"user_sid\": \"...\", \"amount_cents\": N, "
      + "\"node\": \"...\", \"idempotency_key\": \"...\", \"ttl_seconds\": N}";
  /** The longest a hold may count: a day. Work that takes longer places a new hold. */
  static final long MAX_TTL_SECONDS = 86_400;
  private static final Set<String> MEMBERS = Set.of("user_sid", "amount_cents", "node", "idempotency_key",
      "ttl_seconds");

  private HoldBody() {}

  /**
   * The hold a body asks for.
   *
   * @throws ApiException 400, naming the first member that is wrong
   */
  static HoldRequest parse(JsonObject body) {
    for (String name : body.fieldNames()) {
      if (!MEMBERS.contains(name)) {
        throw new ApiException(400, "unknown member \"" + name + "\"; " + SHAPE);
      }
    }
    String user = text(body, "user_sid");
    long amount = integer(body, "amount_cents", 1, BatchParser.MAX_COST_CENTS);
    Object node = body.getValue("node");
    if (!(node instanceof String name) || !WireFormat.isNodeName(name)) {
      throw new ApiException(400, "node must be a node's name: 1 to 64 of [A-Za-z0-9._-], starting with a letter or "
          + "digit, got " + Json.encode(node));
    }
    String key = text(body, "idempotency_key");
    long ttl = integer(body, "ttl_seconds", 1, MAX_TTL_SECONDS);
    return new HoldRequest(user, amount, name, key, Duration.ofSeconds(ttl));
  }

  /**
   * A request's claim on an Idempotency-Key: the hold as sent, in canonical form, so that a retry
   * that writes its JSON otherwise is the same request.
   */
  static Idempotent.Claim claim(String key, HoldRequest r, String initiatedBy) {
    String body = new JsonObject().put("user_sid", r.userSid()).put("amount_cents", r.amountCents())
        .put("node", r.node()).put("idempotency_key", r.idempotencyKey()).put("ttl_seconds", r.ttl().toSeconds())
        .encode();
    return IdempotencyKey.claim(key, "POST", "/v1/holds", body, initiatedBy);
  }

  /** A user or a record's key: 1 to 200 characters, no control characters (the wire format's rule). */
  static String text(JsonObject body, String name) {
    Object value = body.getValue(name);
    if (!(value instanceof String s) || !validText(s)) {
      throw new ApiException(400, name + " must be a string of 1 to " + BatchParser.MAX_TEXT_CHARS
          + " characters without control characters, got " + (value == null ? "nothing" : Json.encode(value)));
    }
    return s;
  }

  static boolean validText(String s) {
    int chars = s.codePointCount(0, s.length());
    if (chars < 1 || chars > BatchParser.MAX_TEXT_CHARS) {
      return false;
    }
    for (int i = 0; i < s.length(); i++) {
      if (Character.getType(s.charAt(i)) == Character.CONTROL) {
        return false;
      }
    }
    return true;
  }

  private static long integer(JsonObject body, String name, long min, long max) {
    Object value = body.getValue(name);
    BigInteger n = GrantRequest.integer(value);
    if (n == null || n.compareTo(BigInteger.valueOf(min)) < 0 || n.compareTo(BigInteger.valueOf(max)) > 0) {
      throw new ApiException(400, name + " must be an integer from " + min + " to " + max
          + " (without a fraction or exponent), got " + (value == null ? "nothing" : Json.encode(value)));
    }
    return n.longValueExact();
  }
}
