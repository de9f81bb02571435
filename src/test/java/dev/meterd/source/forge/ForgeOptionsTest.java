package dev.meterd.source.forge;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class ForgeOptionsTest {

  @Test
  void theConfiguredTimeoutBoundsEachReplyAndAtMostTheConnect() {
    ForgeOptions shortOne = ForgeOptions.DEFAULT.withTimeout(Duration.ofSeconds(2));
    assertThat(shortOne.connectTimeout()).isEqualTo(Duration.ofSeconds(2));
    assertThat(shortOne.requestTimeout()).isEqualTo(Duration.ofSeconds(2));

    ForgeOptions longOne = ForgeOptions.DEFAULT.withTimeout(Duration.ofSeconds(90));
    assertThat(longOne.connectTimeout()).isEqualTo(Duration.ofSeconds(10));
    assertThat(longOne.requestTimeout()).isEqualTo(Duration.ofSeconds(90));
    assertThat(longOne.maxAttempts()).isEqualTo(ForgeOptions.DEFAULT.maxAttempts());
  }
}
