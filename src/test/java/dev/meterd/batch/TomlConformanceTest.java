package dev.meterd.batch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.LocalTime;
import java.time.OffsetDateTime;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The TOML authors' conformance corpus (../shared/toml-test): every invalid document halts its
 * node with a content error naming the file; every valid one is a batch of zero records and
 * decodes to exactly the value the corpus expects.
 */
class TomlConformanceTest {

  static final Path CORPUS = Path.of(System.getProperty("meterd.tomlTest", "../shared/toml-test"));
  private static final BatchParser PARSER = new BatchParser(BatchParser.Limits.DEFAULT);

  static Stream<Named<Path>> documents(String kind) throws IOException {
    List<String> listed = Files.readAllLines(CORPUS.resolve("files-toml-1.0.0"));
    assertThat(listed).as("the corpus index").isNotEmpty();
    return listed.stream()
        .filter(f -> f.startsWith(kind + "/") && f.endsWith(".toml"))
        .map(f -> Named.of(f, CORPUS.resolve(f)));
  }

  static Stream<Named<Path>> invalidDocuments() throws IOException {
    return documents("invalid");
  }

  static Stream<Named<Path>> validDocuments() throws IOException {
    return documents("valid");
  }

  @ParameterizedTest
  @MethodSource("invalidDocuments")
  void haltsOnInvalidDocument(Path file) throws IOException {
    byte[] bytes = Files.readAllBytes(file);
    String path = "nodes/edge-1/usage_2026-11-21-10.toml";
    assertThatThrownBy(() -> PARSER.parse(path, "edge-1", bytes))
        .isInstanceOf(BatchContentException.class)
        .satisfies(e -> {
          BatchContentException c = (BatchContentException) e;
          assertThat(c.path()).isEqualTo(path);
          assertThat(c.getMessage()).startsWith(path);
        });
  }

  @ParameterizedTest
  @MethodSource("validDocuments")
  void acceptsValidDocumentAsEmptyBatch(Path file) throws Exception {
    byte[] bytes = Files.readAllBytes(file);
    UsageBatch batch = PARSER.parse("nodes/edge-1/usage_2026-11-21-10.toml", "edge-1", bytes);
    assertThat(batch.records()).isEmpty();

    String expectedJson = Files.readString(Path.of(file.toString().replaceAll("\\.toml$", ".json")));
    TomlTable doc = TomlParser.parse(new String(bytes, StandardCharsets.UTF_8));
    assertTableEquals("", new JsonObject(expectedJson), doc);
  }

  private static void assertTableEquals(String where, JsonObject expected, TomlTable actual) {
    assertThat(actual.size()).as("number of keys at '%s'", where).isEqualTo(expected.size());
    for (int i = 0; i < actual.size(); i++) {
      String key = actual.keyAt(i);
      assertThat(expected.containsKey(key)).as("key '%s' at '%s'", key, where).isTrue();
      assertValueEquals(where + "." + key, expected.getValue(key), actual.valueAt(i));
    }
  }

  private static void assertValueEquals(String where, Object expected, Object actual) {
    if (expected instanceof JsonArray array) {
      assertThat(actual).as(where).isInstanceOf(TomlArray.class);
      TomlArray list = (TomlArray) actual;
      assertThat(list.size()).as(where).isEqualTo(array.size());
      for (int i = 0; i < list.size(); i++) {
        assertValueEquals(where + "[" + i + "]", array.getValue(i), list.get(i));
      }
      return;
    }
    JsonObject object = (JsonObject) expected;
    if (!(object.containsKey("type") && object.containsKey("value") && object.size() == 2
        && object.getValue("type") instanceof String && object.getValue("value") instanceof String)) {
      assertThat(actual).as(where).isInstanceOf(TomlTable.class);
      assertTableEquals(where, object, (TomlTable) actual);
      return;
    }
    String value = object.getString("value");
    switch (object.getString("type")) {
      case "string" -> assertThat(actual).as(where).isEqualTo(value);
      case "integer" -> assertThat(actual).as(where).isEqualTo(Long.parseLong(value));
      case "bool" -> assertThat(actual).as(where).isEqualTo(Boolean.parseBoolean(value));
      case "float" -> assertThat(Double.valueOf((Double) actual)).as(where).isEqualTo(Double.valueOf(parseFloat(value)));
      case "datetime" -> assertThat(actual).as(where).isEqualTo(OffsetDateTime.parse(value.replace(' ', 'T')));
      case "datetime-local" -> assertThat(actual).as(where).isEqualTo(LocalDateTime.parse(value.replace(' ', 'T')));
      case "date-local" -> assertThat(actual).as(where).isEqualTo(LocalDate.parse(value));
      case "time-local" -> assertThat(actual).as(where).isEqualTo(LocalTime.parse(value));
      default -> throw new AssertionError("unknown type in the corpus at " + where + ": " + object);
    }
  }

  private static double parseFloat(String value) {
    return switch (value) {
      case "nan", "+nan", "-nan" -> Double.NaN;
      case "inf", "+inf" -> Double.POSITIVE_INFINITY;
      case "-inf" -> Double.NEGATIVE_INFINITY;
      default -> Double.parseDouble(value);
    };
  }
}
