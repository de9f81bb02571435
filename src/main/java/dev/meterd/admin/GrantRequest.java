package dev.meterd.admin;

import dev.meterd.ledger.Idempotent;
import dev.meterd.ledger.Ledger;
import dev.meterd.ledger.TxnType;
import io.vertx.core.json.Json;
import io.vertx.core.json.JsonObject;
import java.math.BigInteger;
import java.util.OptionalLong;

/**
 * A grant as the HTTP API ({@code POST /admin/wallets/{user}/grant}) and {@code wallet grant}
 * both take it, validated the same way on both.
 *
 * @param userSid the wallet's user
 * @param amountCents from 1 to {@code [admin] max_grant_cents}
 * @param note free text, or null
 */
public record GrantRequest(String userSid, long amountCents, String note) {

  static final String BODY_SHAPE = "the body must be a JSON object {\"amount_cents\": N, \"note\": \"...\"}";

  /**
   * The amount in cents when {@code amount} is an integer from 1 to {@code maxCents}; empty
   * otherwise. Nothing is ever truncated: 2^64 + 100 is out of range, not 100.
   */
  public static OptionalLong centsWithin(BigInteger amount, long maxCents) {
    if (amount == null || amount.signum() < 1 || amount.compareTo(BigInteger.valueOf(maxCents)) > 0) {
      return OptionalLong.empty();
    }
    return OptionalLong.of(amount.longValueExact());
  }

  /**
   * A JSON member's value as an integer, or null when it is not one: a number written with a
   * fraction or an exponent ({@code 1.0}, {@code 1e2}), a string, a boolean or null is not.
   */
  static BigInteger integer(Object value) {
    return value instanceof Integer || value instanceof Long ? BigInteger.valueOf(((Number) value).longValue())
        : value instanceof BigInteger big ? big : null;
  }

  /**
   * The grant of an HTTP body. JSON numbers written with a fraction or an exponent ({@code 1.0},
   * {@code 1e2}) are refused, as are strings, booleans and null: an amount of money is an integer
   * written as one.
   *
   * @throws ApiException 400, naming what is wrong
   */
  static GrantRequest fromJson(String userSid, JsonObject body, long maxCents) {
    if (body == null) {
      throw new ApiException(400, BODY_SHAPE);
    }
    long cents = amountCents(body, maxCents);
    String note = note(body);
    checkUser(userSid);
    return new GrantRequest(userSid, cents, note);
  }

  /**
   * The body's {@code amount_cents}, from 1 to {@code maxCents}, as every credit takes it.
   *
   * @throws ApiException 400, quoting what was sent
   */
  static long amountCents(JsonObject body, long maxCents) {
    return cents(body, "amount_cents", "amount_cents", maxCents);
  }

  /**
   * An amount of cents, the member {@code member} of {@code object}, from 1 to {@code maxCents}.
   *
   * @param shownAs how the message names the member
   * @throws ApiException 400, quoting what was sent
   */
  static long cents(JsonObject object, String member, String shownAs, long maxCents) {
    Object value = object.getValue(member);
    OptionalLong cents = centsWithin(integer(value), maxCents);
    if (cents.isEmpty()) {
      throw new ApiException(400, shownAs + " must be an integer from 1 to " + maxCents
          + " (whole cents, without a fraction or exponent), got "
          + (object.containsKey(member) ? Json.encode(value) : "nothing"));
    }
    return cents.getAsLong();
  }

  /** The body's {@code note}: a string, or null when absent. */
  static String note(JsonObject body) {
    if (!(body.getValue("note") == null || body.getValue("note") instanceof String)) {
      throw new ApiException(400, "note must be a string");
    }
    return checkStorable(body.getString("note"), "note");
  }

  /**
   * Refuses text holding U+0000, on either engine: PostgreSQL's text cannot store it, and the
   * write would fail with a 503 that no retry cures.
   *
   * @param text the text, or null
   * @return {@code text}
   * @throws ApiException 400, naming the text as {@code shownAs}
   */
  static String checkStorable(String text, String shownAs) {
    if (text != null && text.indexOf('\u0000') >= 0) {
      throw new ApiException(400, shownAs + " must not contain U+0000, which the ledger cannot store");
    }
    return text;
  }

  /** A wallet's user as the path names it: 1 to 200 characters. */
  static void checkUser(String userSid) {
    checkUser(userSid, "the user");
  }

  /** A wallet's user, 1 to 200 characters without U+0000, as the message names it. */
  static void checkUser(String userSid, String shownAs) {
    if (userSid.isEmpty() || userSid.codePointCount(0, userSid.length()) > 200) {
      throw new ApiException(400, shownAs + " must be 1 to 200 characters");
    }
    checkStorable(userSid, shownAs);
  }

  /**
   * Credits this grant at most once under {@code key} (see {@link Ledger#creditOnce}), storing
   * the answer the HTTP API gives: 200 and the transaction.
   */
  public Idempotent creditOnce(Ledger ledger, String key, String initiatedBy) {
    return ledger.walletStore().creditOnce(claim(key, initiatedBy), userSid, TxnType.GRANT, amountCents, note,
        txn -> new Idempotent.Response(200, JsonViews.transaction(txn).encode()));
  }

  /**
   * This grant's claim on an idempotency key: the request as HTTP routes it, with its body in
   * canonical form, so that {@code wallet grant} and the HTTP API name one grant alike.
   */
  private Idempotent.Claim claim(String key, String initiatedBy) {
    String body = new JsonObject().put("amount_cents", amountCents).put("note", note).encode();
    return IdempotencyKey.claim(key, "POST", IdempotencyKey.walletPath(userSid, "grant"), body, initiatedBy);
  }
}
