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

  @Test
  void aRoleBeforeTheNameMakesAnAuthorizeTokenWhileTheOldLineStaysAdmin() throws Exception {
    Path file = tmp.resolve("tokens");
    Files.writeString(file, "alice:" + SIXTEEN + "\nadmin bob:" + SIXTEEN + "b\nauthorize gateway-1:" + SIXTEEN
        + "g\ncarol:" + SIXTEEN + ":authorize\n");
    AdminTokens tokens = AdminTokens.load(Map.of(AdminTokens.ENV, SIXTEEN + "e"), file);
    assertThat(tokens.principal(SIXTEEN)).contains(new AdminTokens.Principal("alice", AdminTokens.Role.ADMIN));
    assertThat(tokens.principal(SIXTEEN + "b")).contains(new AdminTokens.Principal("bob", AdminTokens.Role.ADMIN));
    assertThat(tokens.principal(SIXTEEN + "g"))
        .contains(new AdminTokens.Principal("gateway-1", AdminTokens.Role.AUTHORIZE));
    // A token may hold ':', so an old line ending in ":authorize" is an admin token with that token.
    assertThat(tokens.principal(SIXTEEN + ":authorize"))
        .contains(new AdminTokens.Principal("carol", AdminTokens.Role.ADMIN));
    assertThat(tokens.principal(SIXTEEN + "e")).contains(new AdminTokens.Principal("admin", AdminTokens.Role.ADMIN));
    assertThat(tokens.authenticate(SIXTEEN + "g")).as("an authorize token is no admin token").isEmpty();
    assertThat(tokens.authenticate(SIXTEEN + "b")).contains("bob");
  }

  @Test
  void anUnknownRoleOrAShortAuthorizeTokenIsRefusedWithoutQuotingTheLine() throws Exception {
    Path file = tmp.resolve("tokens");
    Files.writeString(file, "superuser dave:" + SIXTEEN + "\nauthorize gw:short\nauthorize :" + SIXTEEN + "\n");
    assertThatThrownBy(() -> AdminTokens.load(Map.of(), file))
        .isInstanceOf(ConfigException.class)
        .hasMessage("invalid configuration of the admin tokens:\n"
            + "  " + file + " line 1 must be NAME:TOKEN or ROLE NAME:TOKEN with ROLE admin or authorize\n"
            + "  " + file + " line 2: the token of gw must be at least 16 characters\n"
            + "  " + file + " line 3 must be NAME:TOKEN with NAME of [A-Za-z0-9._-]")
        .message().doesNotContain(SIXTEEN).doesNotContain("short");
  }
  /**
   * A name belongs to one role: a gateway named as an admin token (METERD_ADMIN_TOKEN's {@code admin}
   * too) or as another role's token could release its holds and be taken for it in the audit trail
   * (review finding).
   */
  @Test
  void aNameUsedUnderTwoRolesIsRefusedNamingTheLineAndTheName() throws Exception {
    Path file = tmp.resolve("tokens");
    Files.writeString(file, "alice:" + SIXTEEN + "\nauthorize alice:" + SIXTEEN + "a\nauthorize admin:" + SIXTEEN
        + "b\nauthorize gw:" + SIXTEEN + "c\nadmin gw:" + SIXTEEN + "d\n");
    String alice = "  " + file + " line 2: the name alice is already an admin token's (line 1); give this authorize "
        + "token another name, as a name stands for one role";
    String admin = "  " + file + " line 3: the name admin is METERD_ADMIN_TOKEN's, an admin token; give this "
        + "authorize token another name, as a name stands for one role";
    String gw = "  " + file + " line 5: the name gw is already an authorize token's (line 4); give this admin "
        + "token another name, as a name stands for one role";
    assertThatThrownBy(() -> AdminTokens.load(Map.of(AdminTokens.ENV, SIXTEEN + "e"), file))
        .isInstanceOf(ConfigException.class)
        .hasMessage("invalid configuration of the admin tokens:\n" + alice + "\n" + admin + "\n" + gw)
        .message().doesNotContain(SIXTEEN);
    // METERD_ADMIN_TOKEN's name is kept for the admin role even when it is not set: it may be set later.
    assertThatThrownBy(() -> AdminTokens.load(Map.of(), file))
        .isInstanceOf(ConfigException.class)
        .hasMessage("invalid configuration of the admin tokens:\n" + alice + "\n" + admin + "\n" + gw);
  }

  /** Several tokens of one name and one role are a secret being rotated, and all of them open. */
  @Test
  void severalTokensOfOneNameAndOneRoleAreAllTaken() throws Exception {
    Path file = tmp.resolve("tokens");
    Files.writeString(file, "authorize gw:" + SIXTEEN + "a\nalice:" + SIXTEEN + "b\nauthorize gw:" + SIXTEEN
        + "c\nadmin alice:" + SIXTEEN + "d\nadmin:" + SIXTEEN + "f\n");
    AdminTokens tokens = AdminTokens.load(Map.of(AdminTokens.ENV, SIXTEEN + "e"), file);
    AdminTokens.Principal gw = new AdminTokens.Principal("gw", AdminTokens.Role.AUTHORIZE);
    AdminTokens.Principal alice = new AdminTokens.Principal("alice", AdminTokens.Role.ADMIN);
    AdminTokens.Principal admin = new AdminTokens.Principal("admin", AdminTokens.Role.ADMIN);
    assertThat(tokens.principal(SIXTEEN + "a")).contains(gw);
    assertThat(tokens.principal(SIXTEEN + "c")).contains(gw);
    assertThat(tokens.principal(SIXTEEN + "b")).contains(alice);
    assertThat(tokens.principal(SIXTEEN + "d")).contains(alice);
    assertThat(tokens.principal(SIXTEEN + "e")).contains(admin);
    assertThat(tokens.principal(SIXTEEN + "f")).contains(admin);
  }
}
