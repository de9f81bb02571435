package dev.meterd.cli;

import static dev.meterd.testing.UsageRepo.HOUR_10;
import static dev.meterd.testing.UsageRepo.batch;
import static dev.meterd.testing.UsageRepo.record;
import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.testing.UsageRepo;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.eclipse.jgit.lib.Constants;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hostile batch files against the built jar under {@code -Xmx256m}: each halts its own node with
 * a clear error (or, for valid TOML without records, consumes nothing), the process stays within
 * its heap, and the honest node is consumed.
 */
class HostileInputIT {

  @TempDir
  Path tmp;

  private static String path(String node) {
    return "nodes/" + node + "/" + HOUR_10;
  }

  @Test
  void hostileFilesHaltOnlyTheirNodesWithinA256MiBHeap() throws Exception {
    Map<String, byte[]> files = new HashMap<>();
    files.put(path("honest"), batch(record("h1", "u_1", 3)).getBytes(StandardCharsets.UTF_8));
    byte[] huge = new byte[100 * 1024 * 1024];
    java.util.Arrays.fill(huge, (byte) '#');
    files.put(path("huge"), huge);
    files.put(path("deep"), ("a = " + "[".repeat(10_000) + "]".repeat(10_000) + "\n").getBytes(StandardCharsets.UTF_8));
    StringBuilder keys = new StringBuilder("schema = 1\n");
    for (int i = 0; i < 200_000; i++) {
      keys.append("k").append(i).append(" = ").append(i).append('\n');
    }
    files.put(path("many-keys"), keys.toString().getBytes(StandardCharsets.UTF_8));
    StringBuilder full = new StringBuilder("schema = 1\n");
    int fullRecords = 0;
    while (full.length() < 15 * 1024 * 1024) {
      full.append(record("f" + fullRecords, "u_" + (fullRecords % 50), 1));
      fullRecords++;
    }
    files.put(path("full"), full.toString().getBytes(StandardCharsets.UTF_8));
    files.put(path("dupkey"), (batch(record("d1", "u_1", 1)) + "cost_cents = 2\n").getBytes(StandardCharsets.UTF_8));
    files.put(path("bom"), ("\uFEFF" + batch(record("b1", "u_1", 1))).getBytes(StandardCharsets.UTF_8));
    files.put(path("badutf8"), new byte[] {'s', 'c', 'h', 'e', 'm', 'a', ' ', '=', ' ', '1', '\n', '#', (byte) 0xC3, '\n'});
    files.put(path("float"), batch(record("c1", "u_1", 1)).replace("cost_cents = 1", "cost_cents = 1.0")
        .getBytes(StandardCharsets.UTF_8));
    files.put(path("overflow"), batch(record("c1", "u_1", 1)).replace("cost_cents = 1", "cost_cents = 9223372036854775808")
        .getBytes(StandardCharsets.UTF_8));
    files.put(path("control"), batch(record("c\u0001", "u_1", 1)).replace("c\u0001", "c\\u0001")
        .getBytes(StandardCharsets.UTF_8));
    files.put(path("control-key"), (batch(record("k1", "u_1", 1)) + "\"cost\u0007\" = 1\n")
        .getBytes(StandardCharsets.UTF_8));
    files.put(path("string-cost"), batch(record("s1", "u_1", 1)).replace("cost_cents = 1", "cost_cents = \"1\"")
        .getBytes(StandardCharsets.UTF_8));
    StringBuilder million = new StringBuilder("schema = 1\n");
    for (int i = 0; i < 1_000_000; i++) {
      million.append("[[records]]\nidempotency_key = \"").append(i)
          .append("\"\nuser_sid = \"u\"\ncost_cents = 1\noccurred_at = 2026-11-21T10:00:00Z\n");
    }
    byte[] millionBytes = million.toString().getBytes(StandardCharsets.UTF_8);
    million = null;
    files.put(path("million"), millionBytes);

    Path repoDir = tmp.resolve("usage.git");
    try (UsageRepo repo = new UsageRepo(repoDir)) {
      repo.committer().commit("hostile", files, java.util.Set.of(), java.time.Instant.parse("2026-11-21T10:30:00Z"));
      assertThat(repo.committer().repository().resolve(Constants.R_HEADS + "main")).isNotNull();
    }

    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Path out = tmp.resolve("out.json");
    Process p = new ProcessBuilder(java, "-Xmx256m", "-jar", Path.of("target", "meterd.jar").toAbsolutePath().toString(),
        "aggregate", "--once", "--db", tmp.resolve("meterd.db").toString(), "--source", repoDir.toString())
        .redirectOutput(out.toFile()).redirectError(tmp.resolve("err.log").toFile()).start();
    assertThat(p.waitFor(300, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(Files.readString(tmp.resolve("err.log"))).isEqualTo(1);

    String[] lines = Files.readString(out).strip().split("\n");
    JsonObject summary = new JsonObject(lines[lines.length - 1]);
    Map<String, String> halted = new HashMap<>();
    for (Object o : (JsonArray) summary.getValue("halted")) {
      JsonObject h = (JsonObject) o;
      halted.put(h.getString("node"), h.getString("error"));
    }
    assertThat(halted).containsOnlyKeys("huge", "deep", "dupkey", "badutf8", "float", "overflow", "control",
        "control-key", "string-cost", "million");
    assertThat(halted.get("million")).isEqualTo("file is " + millionBytes.length
        + " bytes, over the limit of 16777216 bytes");
    assertThat(halted.get("control-key"))
        .isEqualTo("not valid TOML: control character U+0007 in a string; write it as an escape");
    assertThat(halted.get("string-cost")).isEqualTo("cost_cents must be an integer, got a string");
    assertThat(halted.get("huge")).isEqualTo("file is 104857600 bytes, over the limit of 16777216 bytes");
    assertThat(halted.get("deep")).isEqualTo("not valid TOML: arrays and inline tables are nested more than 128 deep");
    assertThat(halted.get("dupkey")).isEqualTo("not valid TOML: duplicate key cost_cents");
    assertThat(halted.get("badutf8")).isEqualTo("not valid UTF-8 at byte 12");
    assertThat(halted.get("float")).isEqualTo("cost_cents must be an integer, got a float");
    assertThat(halted.get("overflow")).isEqualTo("not valid TOML: integer is out of the 64-bit range: 9223372036854775808");
    assertThat(halted.get("control")).isEqualTo("idempotency_key must not contain control characters, found U+0001");
    assertThat(summary.getInteger("nodes_total")).isEqualTo(14);
    assertThat(summary.getLong("records_consumed")).isEqualTo(1L + fullRecords + 1);
    assertThat(summary.getLong("debited_cents")).isEqualTo(3L + fullRecords + 1);
  }

  /**
   * Files just under the 16 MiB limit whose parsed form would be many times their size, and a
   * file one record over the record limit: each halts its own node with one sentence, none takes
   * the process down, and the node after them in name order is consumed in the same run.
   */
  @Test
  void filesThatWouldExhaustTheHeapHaltTheirNodesAndTheNextNodeIsConsumed() throws Exception {
    int limit = 16 * 1024 * 1024;
    Map<String, byte[]> files = new HashMap<>();
    files.put(path("aa-headers"), repeated("", "[[records]]\n", "", limit - 1));
    files.put(path("ab-tables"), repeated("x = [", "{},", "]\n", limit - 1));
    files.put(path("ac-arrays"), repeated("x = [", "[],", "]\n", limit - 1));
    StringBuilder over = new StringBuilder("records = [\n");
    for (int i = 0; i < 200_001; i++) {
      over.append("{idempotency_key='").append(key3(i)).append("',user_sid='u',cost_cents=1,occurred_at=")
          .append("2026-11-21T10:00:00Z}").append(i % 2 == 0 ? "," : ",\n");
    }
    byte[] overBytes = over.append("]\n").toString().getBytes(StandardCharsets.UTF_8);
    assertThat(overBytes.length).isLessThan(limit);
    files.put(path("ad-records"), overBytes);
    files.put(path("zz-ok"), batch(record("z1", "u_z", 1), record("z2", "u_z", 2), record("z3", "u_y", 4))
        .getBytes(StandardCharsets.UTF_8));
    Path repoDir = tmp.resolve("usage.git");
    try (UsageRepo repo = new UsageRepo(repoDir)) {
      repo.committer().commit("hostile", files, java.util.Set.of(), java.time.Instant.parse("2026-11-21T10:30:00Z"));
    }

    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Path out = tmp.resolve("out.json");
    Path err = tmp.resolve("err.log");
    Process p = new ProcessBuilder(java, "-Xmx256m", "-jar", Path.of("target", "meterd.jar").toAbsolutePath().toString(),
        "aggregate", "--once", "--db", tmp.resolve("meterd.db").toString(), "--source", repoDir.toString())
        .redirectOutput(out.toFile()).redirectError(err.toFile()).start();
    assertThat(p.waitFor(300, TimeUnit.SECONDS)).isTrue();
    String stdout = Files.readString(out);
    String stderr = Files.readString(err);
    assertThat(p.exitValue()).as(stderr).isEqualTo(1);
    assertThat(stdout + stderr).doesNotContain("Exception in thread").doesNotContain("at dev.")
        .doesNotContain("OutOfMemoryError");

    String budget = "file would take more than 134217728 bytes of heap to parse (8 bytes for each byte of the size "
        + "limit): it holds too many small tables, arrays or values";
    Map<String, String> expected = Map.of(
        "aa-headers", path("aa-headers") + ":200001: record 200001 is over the limit of 200000 records per file",
        "ab-tables", path("ab-tables") + ":1: " + budget,
        "ac-arrays", path("ac-arrays") + ":1: " + budget,
        "ad-records", path("ad-records") + ":100002: record 200001 is over the limit of 200000 records per file");
    String[] lines = stdout.strip().split("\n");
    JsonObject summary = new JsonObject(lines[lines.length - 1]);
    Map<String, String> halted = new HashMap<>();
    for (Object o : (JsonArray) summary.getValue("halted")) {
      JsonObject h = (JsonObject) o;
      halted.put(h.getString("node"), h.getString("file") + ":" + h.getInteger("line") + ": " + h.getString("error"));
    }
    assertThat(halted).isEqualTo(expected);
    for (Map.Entry<String, String> e : expected.entrySet()) {
      assertThat(stderr.lines().filter(l -> l.contains("node " + e.getKey() + " halted")))
          .as(stderr).singleElement().satisfies(l -> assertThat(l).endsWith("node " + e.getKey() + " halted: "
              + e.getValue()));
    }
    assertThat(summary.getInteger("nodes_total")).isEqualTo(5);
    assertThat(summary.getInteger("nodes_consumed")).isEqualTo(1);
    assertThat(summary.getLong("records_consumed")).isEqualTo(3L);
    assertThat(summary.getLong("debited_cents")).isEqualTo(7L);
  }

  /** Text of {@code prefix}, as many {@code unit}s as fit and {@code suffix}, at most {@code maxBytes} long. */
  private static byte[] repeated(String prefix, String unit, String suffix, int maxBytes) {
    int units = (maxBytes - prefix.length() - suffix.length()) / unit.length();
    return (prefix + unit.repeat(units) + suffix).getBytes(StandardCharsets.UTF_8);
  }

  /** A distinct three-character key for each i below 93^3, of printable characters a literal string may hold. */
  private static String key3(int i) {
    String alphabet = "!\"#$%&()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";
    int n = alphabet.length();
    return "" + alphabet.charAt(i / (n * n)) + alphabet.charAt(i / n % n) + alphabet.charAt(i % n);
  }

  @Test
  void aFileLimitTheHeapCannotParseIsRefusedBeforeAnythingRuns() throws Exception {
    Path config = tmp.resolve("big.toml");
    Files.writeString(config, "[aggregator]\nmax_file_bytes = 67108864\n");
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    String jar = Path.of("target", "meterd.jar").toAbsolutePath().toString();
    for (String command : List.of("aggregate", "serve")) {
      ProcessBuilder pb = new ProcessBuilder(java, "-Xmx256m", "-jar", jar, command, "--config", config.toString(),
          "--db", tmp.resolve("meterd.db").toString(), "--source", tmp.resolve("none.git").toString())
          .redirectErrorStream(true).redirectOutput(tmp.resolve("out.log").toFile());
      pb.environment().put("METERD_ADMIN_TOKEN", "heap-test-admin-token-01234");
      if (command.equals("aggregate")) {
        pb.command().add(5, "--once");
      }
      Process p = pb.start();
      assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
      String out = Files.readString(tmp.resolve("out.log"));
      assertThat(p.exitValue()).as(out).isEqualTo(2);
      assertThat(out).as(command).matches("(?s).*aggregator.max_file_bytes = 67108864 needs about 768 MiB of heap to "
          + "parse a file of that size, and this JVM has 2\\d\\d MiB: start java with -Xmx768m or more, or lower "
          + "the limit\n");
    }
  }
}
