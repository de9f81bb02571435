package dev.meterd.admin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The Stripe-Signature scheme, pinned to a signature made by another implementation (openssl). */
class StripeSignatureTest {

  private static final String SECRET = "whsec_test_secret_0123456789";
  private static final long T = 1_764_496_800L;
  private static final byte[] BODY = "{\"id\":\"evt_1\",\"type\":\"payment_intent.succeeded\"}"
      .getBytes(StandardCharsets.UTF_8);
  /**
   * {@code printf '%s' '1764496800.{"id":"evt_1","type":"payment_intent.succeeded"}' | openssl dgst
   * -sha256 -hmac 'whsec_test_secret_0123456789'}: the secret's bytes as they are, as Stripe's
   * libraries key it.
   */
  private static final String OPENSSL = "9c75df9df2cfe8c5a8644e15024ec96957e4514ae6c87609264591fc99fd5f6e";
  private static final String WRONG = "0".repeat(64);

  private static StripeSignature at(long epochSeconds) {
    return new StripeSignature(SECRET, Clock.fixed(Instant.ofEpochSecond(epochSeconds), ZoneOffset.UTC));
  }

  private static String refusal(StripeSignature signature, String... headers) {
    try {
      signature.verify(BODY, List.of(headers));
      return "passed";
    } catch (StripeSignature.Refused e) {
      return e.getMessage();
    }
  }

  @Test
  void signsAsOpensslDoesWithTheSecretsBytesAsTheyAre() {
    assertThat(at(T).sign(T, BODY)).isEqualTo(OPENSSL);
    assertThatCode(() -> at(T).verify(BODY, List.of("t=" + T + ",v1=" + OPENSSL))).doesNotThrowAnyException();
  }

  @Test
  void anyOfSeveralV1ValuesMayMatchAndOtherSchemesArePassedOver() {
    assertThat(refusal(at(T), "t=" + T + ",v1=" + WRONG + ",v1=" + OPENSSL)).isEqualTo("passed");
    assertThat(refusal(at(T), "t=" + T + ",v0=" + WRONG + ",v1=" + OPENSSL + ",v1=" + WRONG)).isEqualTo("passed");
    assertThat(refusal(at(T), "v1=" + OPENSSL + ",t=" + T)).isEqualTo("passed");
  }

  @Test
  void refusesASignatureThatIsNotTheBodysOrIsWrittenOtherwise() {
    String mismatch = "no v1 signature of the Stripe-Signature header matches the body; the event was not sent by "
        + "the provider, or was changed, or METERD_PAYMENT_WEBHOOK_SECRET is not this endpoint's signing secret";
    assertThat(refusal(at(T), "t=" + T + ",v1=" + WRONG)).isEqualTo(mismatch);
    assertThat(refusal(at(T), "t=" + (T + 1) + ",v1=" + OPENSSL)).isEqualTo(mismatch);
    assertThat(refusal(at(T), "t=" + T + ",v1=" + OPENSSL.toUpperCase(java.util.Locale.ROOT))).isEqualTo(mismatch);
    assertThat(refusal(at(T), "t=" + T + ",v1=" + OPENSSL.substring(1))).isEqualTo(mismatch);
    assertThat(refusal(at(T), "t=" + T + ",v0=" + OPENSSL + ",v1=" + WRONG)).isEqualTo(mismatch);
    assertThat(refusal(new StripeSignature(SECRET + "x", Clock.fixed(Instant.ofEpochSecond(T), ZoneOffset.UTC)),
        "t=" + T + ",v1=" + OPENSSL)).isEqualTo(mismatch);
  }

  @Test
  void refusesAHeaderMissingSentTwiceOrNotOfTheForm() {
    String form = "the Stripe-Signature header must be t=<unix seconds>,v1=<hex signature>[,v1=...]";
    String oneT = "the Stripe-Signature header must name one timestamp t, in unix seconds: "
        + "t=<unix seconds>,v1=<hex signature>[,v1=...]";
    assertThat(refusal(at(T))).isEqualTo(
        "the request has no Stripe-Signature header; payment events must be signed by the provider");
    assertThat(refusal(at(T), "t=" + T + ",v1=" + OPENSSL, "t=" + T + ",v1=" + OPENSSL))
        .isEqualTo("send the Stripe-Signature header once, not 2 times");
    assertThat(refusal(at(T), "")).isEqualTo(form);
    assertThat(refusal(at(T), "t=" + T)).isEqualTo(form);
    assertThat(refusal(at(T), "v1=" + OPENSSL)).isEqualTo(form);
    assertThat(refusal(at(T), "t=" + T + ",t=" + T + ",v1=" + OPENSSL)).isEqualTo(oneT);
    assertThat(refusal(at(T), "t=-1,v1=" + OPENSSL)).isEqualTo(oneT);
    assertThat(refusal(at(T), "t=1e9,v1=" + OPENSSL)).isEqualTo(oneT);
    assertThat(refusal(at(T), "t= " + T + ",v1=" + OPENSSL)).isEqualTo(oneT);
    assertThat(refusal(at(T), "t=9999999999999,v1=" + OPENSSL)).isEqualTo(oneT);
  }

  @Test
  void acceptsFiveMinutesEitherWayAndRefusesASecondMore() {
    String header = "t=" + T + ",v1=" + OPENSSL;
    assertThat(refusal(at(T + 300), header)).isEqualTo("passed");
    assertThat(refusal(at(T - 300), header)).isEqualTo("passed");
    assertThat(refusal(at(T + 301), header)).isEqualTo("the Stripe-Signature timestamp " + T + " is 301 seconds "
        + "from this server's clock, more than the 300 allowed; a replayed or delayed event is refused (if every "
        + "event is, check the server's clock)");
    assertThat(refusal(at(T - 301), header)).isEqualTo("the Stripe-Signature timestamp " + T + " is 301 seconds "
        + "from this server's clock, more than the 300 allowed; a replayed or delayed event is refused (if every "
        + "event is, check the server's clock)");
  }

  @Test
  void aShortOrPaddedSecretIsRefusedAtStartAndAnEmptyOneTurnsTheWebhookOff() {
    assertThat(PaymentWebhook.secretFrom(java.util.Map.of())).isEmpty();
    assertThat(PaymentWebhook.secretFrom(java.util.Map.of(PaymentWebhook.SECRET_ENV, ""))).isEmpty();
    assertThat(PaymentWebhook.secretFrom(java.util.Map.of(PaymentWebhook.SECRET_ENV, SECRET))).contains(SECRET);
    assertThatThrownBy(() -> PaymentWebhook.secretFrom(java.util.Map.of(PaymentWebhook.SECRET_ENV, "whsec_short")))
        .hasMessage("invalid configuration METERD_PAYMENT_WEBHOOK_SECRET:\n  it must be the payment provider's "
            + "signing secret for the endpoint (Stripe's whsec_...), at least 16 characters");
    assertThatThrownBy(() -> PaymentWebhook.secretFrom(java.util.Map.of(PaymentWebhook.SECRET_ENV, SECRET + "\n")))
        .hasMessage("invalid configuration METERD_PAYMENT_WEBHOOK_SECRET:\n  it starts or ends with white space (a "
            + "line end from a file?); the secret is used exactly as given, so set it without");
  }
}
