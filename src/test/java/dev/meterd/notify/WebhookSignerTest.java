package dev.meterd.notify;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meterd.config.ConfigException;
import dev.meterd.testing.StandardWebhooksVerifier;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.Test;

class WebhookSignerTest {

  /** The example of the Standard Webhooks specification (and its reference libraries' tests). */
  private static final String SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

  @Test
  void signsTheSpecificationsExampleAsItsReferenceLibrariesDo() {
    WebhookSigner signer = WebhookSigner.fromSecret(SPEC_SECRET);
    String signature = signer.signature("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, "{\"test\": 2432232314}");
    assertThat(signature).isEqualTo("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    new StandardWebhooksVerifier(SPEC_SECRET).verify("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", signature,
        "{\"test\": 2432232314}", Instant.ofEpochSecond(1614265330));
  }

  @Test
  void aSignatureCoversTheIdTheTimestampAndTheBody() {
    WebhookSigner signer = WebhookSigner.fromSecret(SPEC_SECRET);
    String base = signer.signature("evt_1", 100, "{}");
    assertThat(signer.signature("evt_2", 100, "{}")).isNotEqualTo(base);
    assertThat(signer.signature("evt_1", 101, "{}")).isNotEqualTo(base);
    assertThat(signer.signature("evt_1", 100, "{ }")).isNotEqualTo(base);
    StandardWebhooksVerifier verifier = new StandardWebhooksVerifier(SPEC_SECRET);
    assertThatThrownBy(() -> verifier.verify("evt_1", "100", base, "{ }", Instant.ofEpochSecond(100)))
        .hasMessage("no v1 signature in \"" + base + "\" matches");
  }

  @Test
  void theSecretComesFromTheEnvironmentAndAnEmptyOneIsNone() {
    assertThat(WebhookSigner.fromEnv(Map.of())).isEmpty();
    assertThat(WebhookSigner.fromEnv(Map.of(WebhookSigner.ENV, " "))).isEmpty();
    assertThat(WebhookSigner.fromEnv(Map.of(WebhookSigner.ENV, SPEC_SECRET + "\n")).orElseThrow()
        .signature("e", 1, "b")).isEqualTo(WebhookSigner.fromSecret(SPEC_SECRET).signature("e", 1, "b"));
  }

  @Test
  void refusesASecretWithoutThePrefixNotBase64OrOfTheWrongLengthWithoutQuotingIt() {
    String how = "; make one with: echo whsec_$(openssl rand -base64 32)";
    assertThatThrownBy(() -> WebhookSigner.fromSecret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
        .isInstanceOf(ConfigException.class)
        .hasMessage("invalid configuration METERD_WEBHOOK_SECRET:\n  METERD_WEBHOOK_SECRET must be whsec_ followed "
            + "by a base64 key" + how);
    assertThatThrownBy(() -> WebhookSigner.fromSecret("whsec_not*base64"))
        .hasMessage("invalid configuration METERD_WEBHOOK_SECRET:\n  the part of METERD_WEBHOOK_SECRET after whsec_ "
            + "is not valid base64" + how);
    assertThatThrownBy(() -> WebhookSigner.fromSecret("whsec_c2hvcnQ="))
        .hasMessage("invalid configuration METERD_WEBHOOK_SECRET:\n  the key of METERD_WEBHOOK_SECRET must be 24 to 64 "
            + "bytes, it has 5" + how);
  }
}
