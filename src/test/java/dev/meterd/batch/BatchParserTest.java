package dev.meterd.batch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class BatchParserTest {

  private static final String PATH = "nodes/edge-1/usage_2026-11-21-10.toml";
  private final BatchParser parser = new BatchParser(new BatchParser.Limits(4096, 3));

  private static String record(String body) {
    return "schema = 1\n\n[[records]]\n" + body;
  }

  private static final String GOOD = """
      idempotency_key = "k1"
      user_sid = "u_1"
      cost_cents = 42
      occurred_at = 2026-11-21T10:00:03Z
      """;

  private UsageBatch parse(String text) throws BatchContentException {
    return parser.parse(PATH, "edge-1", text.getBytes(StandardCharsets.UTF_8));
  }

  private void assertRejected(String text, int line, String error) {
    assertThatThrownBy(() -> parse(text))
        .isInstanceOfSatisfying(BatchContentException.class, e -> {
          assertThat(e.path()).isEqualTo(PATH);
          assertThat(e.error()).isEqualTo(error);
          assertThat(e.line()).isEqualTo(line);
        });
  }

  @Test
  void readsEveryFieldOfARecord() throws Exception {
    UsageBatch batch = parse("""
        schema = 1
        node = "edge-1"
        future_key = "ignored"

        [[records]]
        idempotency_key = "edge-1/2026-11-21T10/000001"
        user_sid = "u_8f3a"
        cost_cents = 42
        occurred_at = 2026-11-21T10:00:03+01:00
        resource = "llm.tokens"
        quantity = 1200
        unknown = [1, 2]

        [[records]]
        idempotency_key = "k2"
        user_sid = "u_2"
        cost_cents = 0
        occurred_at = "2026-11-21T10:00:04.5Z"
        """);
    assertThat(batch.path()).isEqualTo(PATH);
    assertThat(batch.records()).containsExactly(
        new UsageRecord("edge-1/2026-11-21T10/000001", "u_8f3a", 42,
            Instant.parse("2026-11-21T09:00:03Z"), "llm.tokens", 1200L, 5),
        new UsageRecord("k2", "u_2", 0, Instant.parse("2026-11-21T10:00:04.5Z"), null, null, 14));
  }

  @Test
  void acceptsAnEmptyFileAsNoRecords() throws Exception {
    assertThat(parse("").records()).isEmpty();
    assertThat(parse("schema = 1\n").records()).isEmpty();
  }

  @Test
  void acceptsInlineArrayOfRecords() throws Exception {
    UsageBatch batch = parse("records = [{idempotency_key = \"a\", user_sid = \"u\", cost_cents = 1,"
        + " occurred_at = 2026-11-21T10:00:00Z}]\n");
    assertThat(batch.records()).extracting(UsageRecord::idempotencyKey).containsExactly("a");
  }

  @Test
  void rejectsInvalidToml() {
    assertRejected(record(GOOD) + "cost_cents = 5\n", 8, "not valid TOML: duplicate key cost_cents");
  }

  @Test
  void rejectsInvalidUtf8WithItsLine() {
    byte[] bytes = "schema = 1\n# caf\u00e9\n".getBytes(StandardCharsets.UTF_8);
    bytes[bytes.length - 2] = (byte) 0xFF;
    assertThatThrownBy(() -> parser.parse(PATH, "edge-1", bytes))
        .isInstanceOfSatisfying(BatchContentException.class, e -> {
          assertThat(e.line()).isEqualTo(2);
          assertThat(e.error()).isEqualTo("not valid UTF-8 at byte 16");
        });
  }

  @Test
  void rejectsSchemaOtherThanOne() {
    assertRejected("schema = 2\n", 1, "schema must be 1, got 2 (this meterd reads wire format version 1)");
    assertRejected("schema = \"1\"\n", 1, "schema must be an integer, got a string");
  }

  @Test
  void rejectsNodeOfAnotherFolder() {
    assertRejected("node = \"edge-2\"\n", 1, "node is \"edge-2\" but the file is in the folder of node \"edge-1\"");
    assertRejected("node = 1\n", 1, "node must be a string, got an integer");
  }

  @Test
  void reportsTheLineOfAKeyAfterBlankLinesAndComments() {
    assertRejected("# usage of edge-1\n\nschema = 1\n\nnode = \"edge-2\"\n", 5,
        "node is \"edge-2\" but the file is in the folder of node \"edge-1\"");
    assertRejected("schema = 1\n\n[[records]]\nidempotency_key = \"k1\"\n# a comment\nuser_sid = \"u_1\"\n\n"
        + "cost_cents = -5\noccurred_at = 2026-11-21T10:00:03Z\n", 8, "cost_cents must be >= 0, got -5");
    assertRejected("schema = 1\nrecords = [\n  {idempotency_key = \"k1\", user_sid = \"u_1\", cost_cents = -5, "
        + "occurred_at = 2026-11-21T10:00:03Z},\n]\n", 3, "cost_cents must be >= 0, got -5");
  }

  @Test
  void rejectsRecordsThatAreNotTables() {
    assertRejected("records = 5\n", 1, "records must be an array of tables, got an integer");
    assertRejected("records = [1]\n", 1, "records[0] must be a table, got an integer");
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "idempotency_key | record is missing idempotency_key",
      "user_sid        | record is missing user_sid",
      "cost_cents      | record is missing cost_cents",
      "occurred_at     | record is missing occurred_at"})
  void rejectsMissingRequiredKey(String key, String error) {
    String body = GOOD.lines().filter(l -> !l.startsWith(key + " ")).reduce("", (a, b) -> a + b + "\n");
    assertRejected(record(body), 3, error);
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "cost_cents = -5                | cost_cents must be >= 0, got -5",
      "cost_cents = 1000000000001     | cost_cents must be <= 1000000000000, got 1000000000001",
      "cost_cents = 4.2               | cost_cents must be an integer, got a float",
      "cost_cents = '42'              | cost_cents must be an integer, got a string",
      "user_sid = 7                   | user_sid must be a string, got an integer",
      "user_sid = ''                  | user_sid must be 1 to 200 characters, got 0",
      "idempotency_key = ''           | idempotency_key must be 1 to 200 characters, got 0",
      "idempotency_key = \"a\\u0007b\"  | idempotency_key must not contain control characters, found U+0007",
      "user_sid = \"u\\u0085\"          | user_sid must not contain control characters, found U+0085",
      "occurred_at = 2026-11-21T10:00:00 | occurred_at must be an offset date-time, got a local date-time (no offset)",
      "occurred_at = 2026-11-21       | occurred_at must be an offset date-time, got a local date",
      "occurred_at = '2026-11-21 10:00' | occurred_at must be an RFC 3339 date-time with an offset, got \"2026-11-21 10:00\"",
      "occurred_at = '2026-11-21T10:00:00' | occurred_at must be an RFC 3339 date-time with an offset, got \"2026-11-21T10:00:00\"",
      "occurred_at = 9999-12-31T23:30:00-01:00 | occurred_at must fall in the years 0001 to 9999 in UTC, got 9999-12-31T23:30-01:00",
      "occurred_at = 0001-01-01T00:30:00+01:00 | occurred_at must fall in the years 0001 to 9999 in UTC, got 0001-01-01T00:30+01:00",
      "resource = 5                   | resource must be a string, got an integer",
      "resource = \"gpu\\u0000\"         | resource must not contain U+0000, which the ledger cannot store",
      "quantity = -1                  | quantity must be >= 0, got -1",
      "quantity = 1.5                 | quantity must be an integer, got a float"})
  void rejectsFieldWithWrongTypeOrRange(String replacement, String error) {
    String key = replacement.substring(0, replacement.indexOf(' '));
    String body = GOOD.lines().filter(l -> !l.startsWith(key + " ")).reduce("", (a, b) -> a + b + "\n")
        + replacement + "\n";
    assertRejected(record(body), 3 + (int) body.lines().count(), error);
  }

  @Test
  void rejectsTextsLongerThan200Characters() {
    assertRejected(record(GOOD.replace("\"u_1\"", "\"" + "u".repeat(201) + "\"")), 5,
        "user_sid must be 1 to 200 characters, got 201");
    assertRejected(record(GOOD + "resource = \"" + "r".repeat(201) + "\"\n"), 8,
        "resource must be 0 to 200 characters, got 201");
  }

  @Test
  void countsCharactersNotUtf16Units() throws Exception {
    String key = "\uD83D\uDE00".repeat(200);
    assertThat(parse(record(GOOD.replace("\"k1\"", "\"" + key + "\""))).records().get(0).idempotencyKey())
        .isEqualTo(key);
  }

  @Test
  void rejectsCostPast64Bits() {
    assertRejected(record(GOOD.replace("42", "9223372036854775808")), 6,
        "not valid TOML: integer is out of the 64-bit range: 9223372036854775808");
  }

  @Test
  void rejectsFileOverTheSizeLimit() {
    assertRejected("# " + "x".repeat(4096) + "\n", 0, "file is 4099 bytes, over the limit of 4096 bytes");
  }

  @Test
  void rejectsFileWithMoreRecordsThanTheLimitAtTheFirstRecordOverIt() {
    String four = record(GOOD) + ("[[records]]\n" + GOOD).repeat(3);
    assertRejected(four, 18, "record 4 is over the limit of 3 records per file");
  }

  @Test
  void stopsReadingAtTheRecordOverTheLimit() {
    String four = record(GOOD) + ("[[records]]\n" + GOOD).repeat(3);
    assertRejected(four + "this line is not TOML\n", 18, "record 4 is over the limit of 3 records per file");
  }

  @Test
  void stopsReadingAnInlineArrayOfRecordsAtTheRecordOverTheLimit() {
    String inline = "{idempotency_key = \"k\", user_sid = \"u\", cost_cents = 1, "
        + "occurred_at = 2026-11-21T10:00:00Z},\n";
    assertRejected("schema = 1\nrecords = [\n" + inline.repeat(4) + "{this is not TOML}]\n", 6,
        "record 4 is over the limit of 3 records per file");
  }

  @Test
  void acceptsExactlyTheLimitOfRecords() throws Exception {
    String three = record(GOOD) + ("[[records]]\n" + GOOD).repeat(2);
    assertThat(parse(three).records()).hasSize(3);
  }

  @Test
  void rejectsTinyTablesThatWouldTakeMoreHeapThanTheBudget() {
    assertOverBudget("x = [" + "{},".repeat(330_000) + "]\n");
  }

  @Test
  void rejectsTinyArraysThatWouldTakeMoreHeapThanTheBudget() {
    assertOverBudget("x = [" + "[],".repeat(330_000) + "]\n");
  }

  /** Under a 1 MiB size limit the budget is 8 MiB of heap; under 1 MiB of text it is passed. */
  private static void assertOverBudget(String text) {
    BatchParser mib = new BatchParser(new BatchParser.Limits(1 << 20, 10));
    assertThat(text.length()).isLessThan(1 << 20);
    assertThatThrownBy(() -> mib.parse(PATH, "edge-1", text.getBytes(StandardCharsets.UTF_8)))
        .isInstanceOfSatisfying(BatchContentException.class, e -> {
          assertThat(e.line()).isEqualTo(1);
          assertThat(e.error()).isEqualTo("file would take more than 8388608 bytes of heap to parse (8 bytes for "
              + "each byte of the size limit): it holds too many small tables, arrays or values");
        });
  }

  @Test
  void aSmallSizeLimitStillHasAHeapBudgetOfEightMebibytes() throws Exception {
    assertThat(parse("x = [" + "{},".repeat(1300) + "]\n").records()).isEmpty();
  }

  @Test
  void acceptsTypicalRecordsUpToTheSizeLimitWithinTheBudget() throws Exception {
    BatchParser roomy = new BatchParser(new BatchParser.Limits(4096, 1000));
    StringBuilder file = new StringBuilder("schema = 1\n");
    int records = 0;
    String block = "\n[[records]]\nidempotency_key = \"0190b8c4-6a4e-7cc4-9f2e-5b7d0e4d%04d\"\nuser_sid = \"u_%d\"\n"
        + "cost_cents = %d\nresource = \"llm.tokens\"\nquantity = %d\noccurred_at = 2026-11-21T10:%02d:00Z\n";
    while (true) {
      String next = String.format(block, records, records % 7, 100 + records, 1000 + records, records % 60);
      if (file.length() + next.length() > 4096) {
        break;
      }
      file.append(next);
      records++;
    }
    UsageBatch batch = roomy.parse(PATH, "edge-1", file.toString().getBytes(StandardCharsets.UTF_8));
    assertThat(batch.records()).hasSize(records);
    assertThat(records).isEqualTo(22);
  }

  @Test
  void rejectsADottedKeyOfMoreThan128Parts() throws Exception {
    assertRejected("a" + ".b".repeat(128) + " = 1\n", 1, "not valid TOML: a dotted key or table header has more "
        + "than 128 parts");
    assertRejected("[a" + ".b".repeat(128) + "]\n", 1, "not valid TOML: a dotted key or table header has more "
        + "than 128 parts");
    assertThat(parse("a" + ".b".repeat(127) + " = 1\n").records()).isEmpty();
  }

  @Test
  void rejectsDeepNestingWithoutExhaustingTheStack() {
    String deep = "a = " + "[".repeat(10_000) + "]".repeat(10_000) + "\n";
    BatchParser big = new BatchParser(new BatchParser.Limits(1 << 20, 10));
    assertThatThrownBy(() -> big.parse(PATH, "edge-1", deep.getBytes(StandardCharsets.UTF_8)))
        .isInstanceOfSatisfying(BatchContentException.class, e -> assertThat(e.error())
            .isEqualTo("not valid TOML: arrays and inline tables are nested more than 128 deep"));
  }

  @Test
  void acceptsByteOrderMark() throws Exception {
    assertThat(parse("\uFEFF" + record(GOOD)).records()).hasSize(1);
  }
}
