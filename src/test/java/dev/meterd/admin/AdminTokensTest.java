package dev.meterd.admin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meterd.config.ConfigException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Admin tokens are at least 16 characters, from the environment and from the tokens file alike. */
class AdminTokensTest {

  private static final String SIXTEEN = "0123456789abcdef";

  @TempDir
  Path tmp;

  @Test
  void anEnvironmentTokenOfFifteenCharactersIsRefusedAndOneOfSixteenTaken() {
    assertThatThrownBy(() -> AdminTokens.load(Map.of(AdminTokens.ENV, SIXTEEN.substring(1)), null))
        .isInstanceOf(ConfigException.class)
        .hasMessage("invalid configuration of the admin tokens:\n  METERD_ADMIN_TOKEN must be at least 16 characters");
    AdminTokens tokens = AdminTokens.load(Map.of(AdminTokens.ENV, SIXTEEN), null);
    assertThat(tokens.authenticate(SIXTEEN)).contains("admin");
    assertThat(tokens.authenticate(SIXTEEN.substring(1))).isEmpty();
  }

  @Test
  void aFileTokenOfFifteenCharactersIsRefusedWithoutQuotingItAndEveryBadLineIsListed() throws Exception {
    Path file = tmp.resolve("tokens");
    Files.writeString(file, "# named tokens\nalice:" + SIXTEEN + "\nbob:" + SIXTEEN.substring(1) + "\n\ncarol:\n");
    assertThatThrownBy(() -> AdminTokens.load(Map.of(AdminTokens.ENV, "short"), file))
        .isInstanceOf(ConfigException.class)
        .hasMessage("invalid configuration of the admin tokens:\n"
            + "  METERD_ADMIN_TOKEN must be at least 16 characters\n"
            + "  " + file + " line 3: the token of bob must be at least 16 characters\n"
            + "  " + file + " line 5: the token of carol must be at least 16 characters")
        .message().doesNotContain(SIXTEEN.substring(1)).doesNotContain("short");

    Files.writeString(file, "alice:" + SIXTEEN + "\n");
    AdminTokens tokens = AdminTokens.load(Map.of(), file);
    assertThat(tokens.authenticate(SIXTEEN)).contains("alice");
    assertThat(tokens.isEmpty()).isFalse();
  }

  @Test
  void noTokenAtAllLeavesTheSetEmptySoServeRefusesToStart() {
    assertThat(AdminTokens.load(Map.of(), null).isEmpty()).isTrue();
    assertThat(AdminTokens.load(Map.of(AdminTokens.ENV, ""), null).isEmpty()).isTrue();
  }
}
