package dev.meterd.edge;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Reading back the writer's own layout without the TOML parser, and knowing when a file is in another. */
class BatchTextTest {

  private static final Instant AT = Instant.parse("2026-11-21T10:00:03Z");
  private static final String HEADER = BatchText.header("n");

  private static String block(String key, String user, long cost) {
    return BatchText.record(new StringBuilder(), key, user, cost, AT, null, null).toString();
  }

  private static int read(String text, List<BatchText.Block> into) {
    return BatchText.forEachBlock(text, "n", into::add);
  }

  @Test
  void readsBackEveryBlockAsWritten() {
    String text = HEADER + block("a", "u \"1\" \\ \u0001\t", 5)
        + BatchText.record(new StringBuilder(), "b", "ü", 0, AT, "llm.tokens", 1200L) + block("c", "u", 1_000_000_000_000L);
    List<BatchText.Block> blocks = new ArrayList<>();
    assertThat(read(text, blocks)).isEqualTo(3);
    assertThat(blocks).containsExactly(
        new BatchText.Block("\"a\"", "\"u \\\"1\\\" \\\\ \\u0001\\t\"", 5),
        new BatchText.Block("\"b\"", "\"ü\"", 0),
        new BatchText.Block("\"c\"", "\"u\"", 1_000_000_000_000L));
    assertThat(read(HEADER, new ArrayList<>())).isZero();
  }

  @Test
  void aWriteCutShortIsLeftToTheParser() {
    String whole = HEADER + block("a", "u", 5);
    String next = block("b", "u", 6);
    for (int cut = 1; cut < next.length(); cut++) {
      assertThat(read(whole + next.substring(0, cut), new ArrayList<>())).as("cut at %d", cut).isEqualTo(-1);
    }
    assertThat(read(whole + next, new ArrayList<>())).isEqualTo(2);
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "schema = 1\nnode = \"m\"\n",
      "schema = 1\n",
      "[[records]]\nidempotency_key = \"a\"\nuser_sid = \"u\"\ncost_cents = 5\noccurred_at = 2026-11-21T10:00:03Z\n",
      "|\n[[records]]\nidempotency_key = \"a\"\nuser_sid = \"u\"\ncost_cents = 05\noccurred_at = 2026-11-21T10:00:03Z\n",
      "|\n[[records]]\nidempotency_key = \"a\"\nuser_sid = \"u\"\ncost_cents = 5_0\noccurred_at = 2026-11-21T10:00:03Z\n",
      "|\n[[records]]\nidempotency_key = 'a'\nuser_sid = \"u\"\ncost_cents = 5\noccurred_at = 2026-11-21T10:00:03Z\n",
      "|\n[[records]]\nidempotency_key = \"\\u0041\"\nuser_sid = \"u\"\ncost_cents = 5\noccurred_at = 2026-11-21T10:00:03Z\n",
      "|\n[[records]]\nidempotency_key = \"\\u001b\"\nuser_sid = \"u\"\ncost_cents = 5\noccurred_at = 2026-11-21T10:00:03Z\n",
      "|\n[[records]]\nidempotency_key = \"\\u000A\"\nuser_sid = \"u\"\ncost_cents = 5\noccurred_at = 2026-11-21T10:00:03Z\n",
      "|\n[[records]]\nidempotency_key = \"\\x\"\nuser_sid = \"u\"\ncost_cents = 5\noccurred_at = 2026-11-21T10:00:03Z\n",
      "|\n[[records]]\nidempotency_key = \"a\" # note\nuser_sid = \"u\"\ncost_cents = 5\noccurred_at = 2026-11-21T10:00:03Z\n",
      "|\n[[records]]\nuser_sid = \"u\"\nidempotency_key = \"a\"\ncost_cents = 5\noccurred_at = 2026-11-21T10:00:03Z\n",
      "|\n[[records]]\nidempotency_key = \"a\"\nuser_sid = \"u\"\ncost_cents = 5\nextra = 1\noccurred_at = 2026-11-21T10:00:03Z\n",
      "|\n[[records]]\nidempotency_key = \"a\"\nuser_sid = \"u\"\ncost_cents = 5\noccurred_at = 2026-11-21T10:00:03Z\nextra = 1\n",
      "|\n[[records]]\nidempotency_key = \"a\"\nuser_sid = \"u\"\ncost_cents = 5\noccurred_at = 2026-11-21T10:00:03Z\n"
          + "idempotency_key = \"b\"\n",
      "|\n[[ records ]]\nidempotency_key = \"a\"\nuser_sid = \"u\"\ncost_cents = 5\noccurred_at = 2026-11-21T10:00:03Z\n",
      "|\n\n[[records]]\nidempotency_key = \"a\"\nuser_sid = \"u\"\ncost_cents = 5\noccurred_at = 2026-11-21T10:00:03Z\n",
      "|# comment\n"})
  void aFileInAnotherLayoutIsLeftToTheParser(String text) {
    String file = text.startsWith("|") ? HEADER + text.substring(1) : text;
    assertThat(read(file, new ArrayList<>())).isEqualTo(-1);
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "a", "\"", "\\", "\n\t\r", "\u0000\u001f\u007f", "\\u0041", "ü€𝄞", "\u0085"})
  void everyQuotedStringIsReadAsQuoted(String s) {
    assertThat(BatchText.isQuoted(BatchText.quoted(s))).isTrue();
  }
}
