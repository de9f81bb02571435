package dev.meterd.admin;

import dev.meterd.ledger.Idempotent;
import dev.meterd.ledger.Ledger;
import dev.meterd.ledger.PaymentStore;
import dev.meterd.ledger.TxnType;
import io.vertx.core.json.JsonObject;

/**
 * A top-up or refund as {@code POST /admin/wallets/{user}/topup} and {@code /refund} take it:
 * the grant's amount and note, validated as a grant's are, and the {@code payment_id} that makes
 * it a payment credited at most once.
 *
 * @param userSid the wallet's user
 * @param type {@link TxnType#TOPUP} or {@link TxnType#REFUND}
 * @param amountCents from 1 to {@code [admin] max_grant_cents}
 * @param paymentId the payer's id for the payment
 * @param note free text, or null
 */
record PaymentRequest(String userSid, TxnType type, long amountCents, String paymentId, String note) {

  static final String BODY_SHAPE = "the body must be a JSON object {\"amount_cents\": N, \"payment_id\": \"...\", "
      + "\"note\": \"...\"}";

  /**
   * The payment of an HTTP body.
   *
   * @throws ApiException 400, naming what is wrong
   */
  static PaymentRequest fromJson(String userSid, TxnType type, JsonObject body, long maxCents) {
    if (body == null) {
      throw new ApiException(400, BODY_SHAPE);
    }
    long cents = GrantRequest.amountCents(body, maxCents);
    String paymentId = paymentId(body.getValue("payment_id"), "payment_id");
    String note = GrantRequest.note(body);
    GrantRequest.checkUser(userSid);
    return new PaymentRequest(userSid, type, cents, paymentId, note);
  }

  /**
   * A payment's id as a request names it, under the rule of idempotency keys: an id is compared
   * as sent, so one that HTTP or a shell could change on the way (spaces at its ends, characters
   * outside ASCII) is refused rather than taken for another.
   *
   * @param member how the request names it, for the message
   */
  static String paymentId(Object value, String member) {
    if (!(value instanceof String id) || !IdempotencyKey.valid(id)) {
      throw new ApiException(400, member + " must be a string of " + IdempotencyKey.CHARS
          + "; it names the payment, so that the payment sent again is credited once");
    }
    return id;
  }

  PaymentStore.Payment payment(String initiatedBy) {
    return new PaymentStore.Payment(paymentId, userSid, type, amountCents, initiatedBy, note);
  }

  /**
   * Records this payment at most once under {@code key} as well as under its payment id, storing
   * the answer the HTTP API gives: 200 and the transaction.
   */
  Idempotent recordOnce(Ledger ledger, String key, String initiatedBy) {
    String body = new JsonObject().put("amount_cents", amountCents).put("payment_id", paymentId).put("note", note)
        .encode();
    Idempotent.Claim claim = IdempotencyKey.claim(key, "POST", IdempotencyKey.walletPath(userSid, type.sqlName()),
        body, initiatedBy);
    return ledger.payments().recordOnce(claim, payment(initiatedBy),
        txn -> new Idempotent.Response(200, JsonViews.transaction(txn).encode()));
  }
}
