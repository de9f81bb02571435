package dev.meterd.batch;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.junit.FuzzTest;

/**
 * The batch parser under Jazzer: whatever the bytes, nothing escapes but the parser's own
 * content error (no crash, no stack overflow, no other exception). `mvn verify` replays the seed
 * inputs under src/test/resources; .ci/run fuzzes it for a bounded time (JAZZER_FUZZ=1).
 */
class BatchParserFuzzTest {

  private static final String PATH = "nodes/edge-1/usage_2026-11-21-10.toml";
  private static final BatchParser PARSER = new BatchParser(new BatchParser.Limits(1 << 20, 10_000));

  @FuzzTest(maxDuration = "30s")
  void onlyContentErrorsEscape(byte[] data) {
    try {
      UsageBatch batch = PARSER.parse(PATH, "edge-1", data);
      assertThat(batch.path()).isEqualTo(PATH);
      assertThat(batch.records()).allSatisfy(r -> assertThat(r.costCents()).isBetween(0L, BatchParser.MAX_COST_CENTS));
    } catch (BatchContentException e) {
      assertThat(e.path()).isEqualTo(PATH);
      assertThat(e.error()).isNotBlank();
    }
  }
}
