package dev.meterd.admin;

import dev.meterd.config.ConfigException;
import dev.meterd.ledger.Ledger;
import dev.meterd.ledger.PaymentStore;
import dev.meterd.ledger.TxnType;
import dev.meterd.ledger.UnappliedPayment;
import dev.meterd.ledger.UnappliedPayments;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import java.time.Clock;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code POST /webhooks/payments}: a payment provider's events in Stripe's format. The signature
 * is the only authentication (no admin token): an event is read only once {@link StripeSignature}
 * has passed it. A {@code payment_intent.succeeded} whose PaymentIntent names
 * {@code metadata.user_sid} becomes a top-up of {@code amount_received} cents, recorded as a
 * payment whose id is the event's id, so a redelivered event credits nothing more and is answered
 * as the first time. A succeeded payment whose amount is not in the ledger's cents (another
 * currency, or ISK: see {@link #whyNotCredited}) is money received all the same: it is kept as an
 * {@link UnappliedPayment} (once per event id), credits nothing, is logged as an error, and waits
 * for an admin. Every other event is acknowledged and ignored, as the provider expects. A refused
 * event is logged with why, never with its body (it holds a customer's data).
 */
public final class PaymentWebhook {

  private static final Logger log = LoggerFactory.getLogger(PaymentWebhook.class);

  static final String PATH = "/webhooks/payments";
  public static final String SECRET_ENV = "METERD_PAYMENT_WEBHOOK_SECRET";
  static final String SUCCEEDED = "payment_intent.succeeded";
  /** The {@code initiated_by} of the top-ups it records. */
  static final String INITIATED_BY = "stripe";
  static final int MIN_SECRET_CHARS = 16;
  private static final Pattern ISO_4217 = Pattern.compile("[A-Za-z]{3}");

  /** What an event asks of the ledger. */
  private sealed interface Event {
    String id();

    record TopUp(String id, PaymentStore.Payment payment) implements Event {}

    /** Money was paid that meterd will not credit by itself: kept for an admin. */
    record Unapplied(String id, UnappliedPayment payment) implements Event {}

    /** Nothing for meterd: no money for a wallet of its own. */
    record Ignored(String id, String reason) implements Event {}
  }

  private final Vertx vertx;
  private final Ledger ledger;
  private final StripeSignature signature;
  private final Clock clock;
  /** {@code [billing] currency}: the ledger's cents are of this currency, and a payment in another is not credited. */
  private final String currency;

  PaymentWebhook(Vertx vertx, Ledger ledger, String secret, Clock clock, String currency) {
    this.vertx = vertx;
    this.ledger = ledger;
    this.signature = new StripeSignature(secret, clock);
    this.clock = clock;
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
      log.info("payment webhook: event {} acknowledged and ignored: {}", ignored.id(), ignored.reason());
      AdminApi.json(ctx, 200, answer.put("ignored", ignored.reason()));
      return;
    }
    if (event instanceof Event.Unapplied unapplied) {
      keep(ctx, answer, unapplied.payment());
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
   * Keeps a payment that is not credited, once per event id, and answers 200 with it: the money is
   * with the provider, and a refusal would only make it retry for days. A failure to keep it is
   * answered as a failure (503), so that the provider delivers it again.
   */
  private void keep(RoutingContext ctx, JsonObject answer, UnappliedPayment payment) {
    vertx.executeBlocking(() -> ledger.unappliedPayments().keep(payment), false).onSuccess(outcome -> {
      if (outcome instanceof UnappliedPayments.Outcome.Kept) {
        log.error("payment webhook: event {} acknowledged but NOT credited, kept as an unapplied payment for an "
            + "admin to handle: {}", payment.eventId(), payment.reason());
      } else {
        log.info("payment webhook: event {} was kept as an unapplied payment before; nothing more was stored",
            payment.eventId());
      }
      AdminApi.json(ctx, 200, answer.put("unapplied", JsonViews.unappliedPayment(outcome.payment())));
    }).onFailure(e -> {
      log.error("payment webhook: event {} was neither credited nor kept: {}", payment.eventId(), e.getMessage());
      AdminApi.fail(ctx, e);
    });
  }

  /**
   * The event a verified body holds.
   *
   * @throws ApiException 400 for a body that is not an event, or a succeeded payment whose
   *     wallet, amount or currency cannot be taken (never truncated, never guessed)
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
      return new Event.Ignored(id, "meterd records only " + SUCCEEDED + " events, not " + type);
    }
    JsonObject intent = object(json.getValue("data") instanceof JsonObject data ? data.getValue("object") : null,
        "data.object", "the PaymentIntent");
    Object metadata = intent.getValue("metadata");
    Object user = metadata == null ? null
        : object(metadata, "data.object.metadata", "the PaymentIntent's metadata").getValue("user_sid");
    if (user == null) {
      return new Event.Ignored(id, "the PaymentIntent names no metadata.user_sid, so it pays for no wallet");
    }
    String userPath = "data.object.metadata.user_sid";
    if (!(user instanceof String userSid)) {
      throw new ApiException(400, userPath + " must be a string");
    }
    GrantRequest.checkUser(userSid, userPath);
    // A payment is what the customer paid: no admin's limit on it, only the ledger's range.
    long cents = GrantRequest.cents(intent, "amount_received", "data.object.amount_received", Long.MAX_VALUE);
    String paid = currencyOf(intent);
    String intentId = GrantRequest.checkStorable(intent.getValue("id") instanceof String text ? text : null,
        "data.object.id");
    Optional<String> notCredited = whyNotCredited(paid);
    if (notCredited.isPresent()) {
      return new Event.Unapplied(id, new UnappliedPayment(id, intentId, userSid, cents, paid, notCredited.get(),
          clock.instant()));
    }
    String note = intentId == null ? null : "Stripe PaymentIntent " + intentId;
    return new Event.TopUp(id, new PaymentStore.Payment(id, userSid, TxnType.TOPUP, cents, INITIATED_BY, note));
  }

  /**
   * The PaymentIntent's currency, upper case (Stripe writes it in lower case).
   *
   * @throws ApiException 400 when it is not a three-letter code
   */
  private static String currencyOf(JsonObject intent) {
    Object value = intent.getValue("currency");
    if (!(value instanceof String code) || !ISO_4217.matcher(code).matches()) {
      throw new ApiException(400, "data.object.currency must be a three-letter ISO 4217 code such as \"usd\", got "
          + (value instanceof String ? "\"" + value + "\"" : value));
    }
    return code.toUpperCase(Locale.ROOT);
  }

  /**
   * Stripe's currencies without decimals (its "zero-decimal" list): amounts in whole units.
   * https://docs.stripe.com/currencies#zero-decimal
   */
  private static final Set<String> STRIPE_ZERO_DECIMAL = Set.of("BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW",
      "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF");

  /** Stripe's currencies with three decimals. */
  private static final Set<String> STRIPE_THREE_DECIMAL = Set.of("BHD", "JOD", "KWD", "OMR", "TND");

  /**
   * How many decimals Stripe's amounts in a currency have: two unless it lists the currency as
   * zero- or three-decimal (ISK, which ISO 4217 gives none, Stripe writes with two).
   */
  static int stripeDigits(String currencyCode) {
    return STRIPE_ZERO_DECIMAL.contains(currencyCode) ? 0 : STRIPE_THREE_DECIMAL.contains(currencyCode) ? 3 : 2;
  }

  /**
   * Why a payment in {@code paid} is not a number of the ledger's cents, or empty when it is.
   * Amounts are in the currency's smallest unit: 1000 JPY is not 10.00 USD. And the smallest unit
   * is Stripe's, which is not always ISO 4217's (the ledger's): Stripe writes ISK with two
   * decimals where ISO 4217 has none (10000 is 100 kr), and MGA with none where ISO 4217 has two.
   */
  private Optional<String> whyNotCredited(String paid) {
    if (!paid.equals(currency)) {
      return Optional.of("currency " + paid + " is not the ledger's currency " + currency);
    }
    int ledgerDigits = new Money(currency).digits();
    int paidDigits = stripeDigits(paid);
    if (paid.equals("ISK")) {
      return Optional.of("Stripe writes ISK amounts in hundredths of a króna and the ledger counts whole krónur");
    }
    if (paidDigits != ledgerDigits) {
      return Optional.of("Stripe writes " + paid + " amounts with " + paidDigits + " decimals and the ledger counts "
          + paid + " with " + ledgerDigits);
    }
    return Optional.empty();
  }

  private static JsonObject object(Object value, String path, String what) {
    if (!(value instanceof JsonObject object)) {
      throw new ApiException(400, "the event's " + path + " must be a JSON object (" + what + ")");
    }
    return object;
  }
}
