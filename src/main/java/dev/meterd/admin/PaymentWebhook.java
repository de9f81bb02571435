package dev.meterd.admin;

import dev.meterd.config.ConfigException;
import dev.meterd.ledger.Ledger;
import dev.meterd.ledger.PaymentStore;
import dev.meterd.ledger.TxnType;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code POST /webhooks/payments}: a payment provider's events in Stripe's format. The signature
 * is the only authentication (no admin token): an event is read only once {@link StripeSignature}
 * has passed it. A {@code payment_intent.succeeded} whose PaymentIntent names
 * {@code metadata.user_sid} becomes a top-up of {@code amount_received} cents, recorded as a
 * payment whose id is the event's id, so a redelivered event credits nothing more and is answered
 * as the first time. Every other event is acknowledged and ignored, as the provider expects.
 * A refused event is logged with why, never with its body (it holds a customer's data).
 */
public final class PaymentWebhook {

  private static final Logger log = LoggerFactory.getLogger(PaymentWebhook.class);

  static final String PATH = "/webhooks/payments";
  public static final String SECRET_ENV = "METERD_PAYMENT_WEBHOOK_SECRET";
  static final String SUCCEEDED = "payment_intent.succeeded";
  /** The {@code initiated_by} of the top-ups it records. */
  static final String INITIATED_BY = "stripe";
  static final int MIN_SECRET_CHARS = 16;

  /** What an event asks of the ledger. */
  private sealed interface Event {
    String id();

    record TopUp(String id, PaymentStore.Payment payment) implements Event {}

    /** @param operatorMustAct money was paid that meterd will not credit by itself (logged as an error) */
    record Ignored(String id, String reason, boolean operatorMustAct) implements Event {}
  }

  private final Vertx vertx;
  private final Ledger ledger;
  private final StripeSignature signature;
  /** {@code [billing] currency}: the ledger's cents are of this currency, and a payment in another is not credited. */
  private final String currency;

  PaymentWebhook(Vertx vertx, Ledger ledger, String secret, Clock clock, String currency) {
    this.vertx = vertx;
    this.ledger = ledger;
    this.signature = new StripeSignature(secret, clock);
    this.currency = currency;
  }

  /**
   * The endpoint's signing secret from {@value #SECRET_ENV}, or empty (unset or empty) when the
   * webhook is off. The secret is used as given: one that cannot be right is refused at start
   * rather than failing every event later.
   *
   * @throws ConfigException the secret is shorter than 16 characters or has white space at an end
   */
  public static Optional<String> secretFrom(Map<String, String> env) {
    String secret = env.get(SECRET_ENV);
    if (secret == null || secret.isEmpty()) {
      return Optional.empty();
    }
    if (secret.length() < MIN_SECRET_CHARS) {
      throw new ConfigException(SECRET_ENV, List.of("it must be the payment provider's signing secret for the "
          + "endpoint (Stripe's whsec_...), at least " + MIN_SECRET_CHARS + " characters"));
    }
    if (!secret.equals(secret.strip())) {
      throw new ConfigException(SECRET_ENV, List.of("it starts or ends with white space (a line end from a file?); "
          + "the secret is used exactly as given, so set it without"));
    }
    return Optional.of(secret);
  }

  void handle(RoutingContext ctx) {
    Buffer buffer = ctx.body().buffer();
    byte[] body = buffer == null ? new byte[0] : buffer.getBytes();
    try {
      signature.verify(body, ctx.request().headers().getAll(StripeSignature.HEADER));
    } catch (StripeSignature.Refused e) {
      log.warn("payment webhook: refused an event from {}: {}", ctx.request().remoteAddress(), e.getMessage());
      AdminApi.error(ctx, 400, e.getMessage());
      return;
    }
    Event event;
    try {
      event = event(buffer);
    } catch (ApiException e) {
      log.warn("payment webhook: refused a signed event: {}", e.getMessage());
      throw e;
    }
    JsonObject answer = new JsonObject().put("received", true).put("event_id", event.id());
    if (event instanceof Event.Ignored ignored) {
      if (ignored.operatorMustAct()) {
        log.error("payment webhook: event {} acknowledged but NOT credited: {}", ignored.id(), ignored.reason());
      } else {
        log.info("payment webhook: event {} acknowledged and ignored: {}", ignored.id(), ignored.reason());
      }
      AdminApi.json(ctx, 200, answer.put("ignored", ignored.reason()));
      return;
    }
    PaymentStore.Payment payment = ((Event.TopUp) event).payment();
    vertx.executeBlocking(() -> ledger.payments().record(payment), false).onSuccess(outcome -> {
      log.info("payment webhook: event {} {} transaction {}: a top-up of {} cents to wallet {}", event.id(),
          outcome instanceof PaymentStore.Outcome.Credited ? "credited as" : "was credited before as",
          outcome.txn().txnId(), payment.amountCents(), payment.userSid());
      AdminApi.json(ctx, 200, answer.put("transaction", JsonViews.transaction(outcome.txn())));
    }).onFailure(e -> {
      log.error("payment webhook: event {} was not credited: {}", event.id(), e.getMessage());
      AdminApi.fail(ctx, e);
    });
  }

  /**
   * The event a verified body holds.
   *
   * @throws ApiException 400 for a body that is not an event, or a succeeded payment whose
   *     wallet or amount cannot be taken (never truncated, never guessed)
   */
  private Event event(Buffer body) {
    JsonObject json;
    try {
      json = body == null ? null : body.toJsonObject();
    } catch (DecodeException | ClassCastException e) {
      json = null;
    }
    if (json == null) {
      throw new ApiException(400, "the event must be a JSON object with an id and a type");
    }
    String id = PaymentRequest.paymentId(json.getValue("id"), "the event's id");
    if (!(json.getValue("type") instanceof String type)) {
      throw new ApiException(400, "the event's type must be a string, e.g. \"" + SUCCEEDED + "\"");
    }
    if (!type.equals(SUCCEEDED)) {
      return new Event.Ignored(id, "meterd records only " + SUCCEEDED + " events, not " + type, false);
    }
    JsonObject intent = object(json.getValue("data") instanceof JsonObject data ? data.getValue("object") : null,
        "data.object", "the PaymentIntent");
    Object metadata = intent.getValue("metadata");
    Object user = metadata == null ? null
        : object(metadata, "data.object.metadata", "the PaymentIntent's metadata").getValue("user_sid");
    if (user == null) {
      return new Event.Ignored(id, "the PaymentIntent names no metadata.user_sid, so it pays for no wallet", false);
    }
    String userPath = "data.object.metadata.user_sid";
    if (!(user instanceof String userSid)) {
      throw new ApiException(400, userPath + " must be a string");
    }
    GrantRequest.checkUser(userSid, userPath);
    // A payment is what the customer paid: no admin's limit on it, only the ledger's range.
    long cents = GrantRequest.cents(intent, "amount_received", "data.object.amount_received", Long.MAX_VALUE);
    // Amounts are in the currency's smallest unit: 1000 JPY is not 10.00 USD. Acknowledged (a
    // refusal would only make the provider retry for days), not credited, and logged as an error.
    Object paid = intent.getValue("currency");
    if (currency.equals("ISK")) {
      // ISO 4217 gives the króna no decimals, Stripe writes its amounts with two: 100 is 1 kr.
      return new Event.Ignored(id, "Stripe writes ISK amounts in hundredths and the ledger counts whole krónur: "
          + cents + " hundredths for wallet " + userSid + " were not credited; credit what they are worth with a "
          + "top-up", true);
    }
    if (!(paid instanceof String code) || !code.equalsIgnoreCase(currency)) {
      return new Event.Ignored(id, "the PaymentIntent is in " + (paid instanceof String code ? code : "no currency")
          + ", not the ledger's " + currency + " ([billing] currency): " + cents + " of its units for wallet " + userSid
          + " were not credited; credit what they are worth with a top-up if they are due", true);
    }
    String note = intent.getValue("id") instanceof String intentId ? "Stripe PaymentIntent " + intentId : null;
    return new Event.TopUp(id, new PaymentStore.Payment(id, userSid, TxnType.TOPUP, cents, INITIATED_BY, note));
  }

  private static JsonObject object(Object value, String path, String what) {
    if (!(value instanceof JsonObject object)) {
      throw new ApiException(400, "the event's " + path + " must be a JSON object (" + what + ")");
    }
    return object;
  }
}
