package dev.meterd.batch;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;

/**
 * Measures the heap that parsing a batch file takes, per byte of the file, on the worst inputs
 * known: the figure behind {@link BatchParser#HEAP_BYTES_PER_FILE_BYTE}. Not a test: run it by
 * hand after changing the parser (files of 16 MiB unless BYTES is given; every shape unless
 * some are named).
 *
 * <pre>
 * mvn -q test-compile
 * CP=target/classes:target/test-classes
 * java -Xmx12g -cp $CP dev.meterd.batch.ParserHeapProbe retained [BYTES [SHAPE,...]]
 * java -cp $CP dev.meterd.batch.ParserHeapProbe minheap [BYTES [SHAPE,...]]
 * </pre>
 *
 * <p>{@code retained} parses each file in this JVM and reports, per file byte, the heap still
 * held after a full collection by the file's bytes and characters and by the parsed tree (what
 * the parser's own estimate says beside it), and by the validated records. {@code minheap} runs
 * a JVM per try and finds, for each file, the smallest {@code -Xmx} (in MiB) under which
 * {@link BatchParser#parse} returns or refuses the file rather than running out of memory: that
 * includes the JVM's own baseline and the transient copies when arrays grow.
 */
final class ParserHeapProbe {

  private static final String HOUR = "2026-11-21T10:00:00Z";

  private ParserHeapProbe() {}

  /** Each hostile or typical shape, as a generator of a file of about the given number of bytes. */
  static Map<String, IntFunction<byte[]>> shapes() {
    Map<String, IntFunction<byte[]>> shapes = new LinkedHashMap<>();
    shapes.put("aot-records", size -> repeat("", i -> "[[records]]\n", "", size));
    shapes.put("aot-other", size -> repeat("", i -> "[[x]]\n", "", size));
    shapes.put("aot-one-key", size -> repeat("", i -> "[[x]]\na=1\n", "", size));
    shapes.put("inline-empty", size -> repeat("x = [", i -> "{},", "]\n", size));
    shapes.put("inline-empty-lines", size -> repeat("x = [\n", i -> "{},\n", "]\n", size));
    shapes.put("array-empty", size -> repeat("x = [", i -> "[],", "]\n", size));
    shapes.put("array-one", size -> repeat("x = [", i -> "[1],", "]\n", size));
    shapes.put("inline-one-key", size -> repeat("x = [", i -> "{a=1},", "]\n", size));
    shapes.put("inline-nested", size -> repeat("x = [", i -> "{a={a={a={}}}},", "]\n", size));
    shapes.put("strings-empty", size -> repeat("x = [", i -> "'',", "]\n", size));
    shapes.put("strings-1", size -> repeat("x = [", i -> "'" + (char) ('a' + i % 26) + "',", "]\n", size));
    shapes.put("ints-cached", size -> repeat("x = [", i -> "1,", "]\n", size));
    shapes.put("ints", size -> repeat("x = [", i -> "1000,", "]\n", size));
    shapes.put("floats", size -> repeat("x = [", i -> "1.5,", "]\n", size));
    shapes.put("dates", size -> repeat("x = [", i -> "1979-05-27T07:32:00Z,", "]\n", size));
    shapes.put("dotted-chain", size -> repeat("", i -> "k" + i + ".a".repeat(100) + " = 1\n", "", size));
    shapes.put("header-chain", size -> repeat("", i -> "[k" + i + ".a".repeat(100) + "]\n", "", size));
    shapes.put("many-keys", size -> repeat("", i -> "k" + i + " = 1\n", "", size));
    shapes.put("records-minimal", size -> repeat("records = [\n", i -> "{idempotency_key='" + i
        + "',user_sid='u',cost_cents=1,occurred_at=" + HOUR + "},\n", "]\n", size));
    shapes.put("records-typical", size -> repeat("schema = 1\n", i -> "\n[[records]]\nidempotency_key = \""
        + new UUID(i, i * 31L) + "\"\nuser_sid = \"u_" + (i % 1000) + "\"\ncost_cents = " + (1 + i % 1000)
        + "\nresource = \"llm.tokens\"\nquantity = " + (i % 5000) + "\noccurred_at = " + HOUR + "\n", "", size));
    return shapes;
  }

  private static byte[] repeat(String prefix, IntFunction<String> unit, String suffix, int size) {
    StringBuilder sb = new StringBuilder(size).append(prefix);
    for (int i = 0; ; i++) {
      String u = unit.apply(i);
      if (sb.length() + u.length() + suffix.length() > size) {
        break;
      }
      sb.append(u);
    }
    return sb.append(suffix).toString().getBytes(StandardCharsets.UTF_8);
  }

  public static void main(String[] args) throws Exception {
    String mode = args.length > 0 ? args[0] : "retained";
    int size = args.length > 1 ? Integer.parseInt(args[1]) : 16 * 1024 * 1024 - 1;
    List<String> only = args.length > 2 ? List.of(args[2].split(",")) : List.of();
    switch (mode) {
      case "retained" -> retained(size, only);
      case "minheap" -> minHeap(size, only);
      case "parse" -> System.exit(parseFile(Path.of(args[2])));
      default -> throw new IllegalArgumentException("modes: retained, minheap, parse");
    }
  }

  private static void retained(int size, List<String> only) {
    BatchParser parser = new BatchParser(new BatchParser.Limits(Integer.MAX_VALUE - 16, Integer.MAX_VALUE));
    System.out.printf(Locale.ROOT, "%-20s %10s %8s %8s %8s %8s  %s%n", "shape", "bytes", "text/B", "tree/B",
        "est/B", "recs/B", "outcome");
    for (Map.Entry<String, IntFunction<byte[]>> e : shapes().entrySet()) {
      if (!only.isEmpty() && !only.contains(e.getKey())) {
        continue;
      }
      long base = usedAfterGc();
      byte[] bytes = e.getValue().apply(size);
      char[] chars = new String(bytes, StandardCharsets.UTF_8).toCharArray();
      long text = usedAfterGc() - base;
      String outcome = "parsed";
      long tree = 0;
      long estimate = 0;
      long records = 0;
      try {
        TomlParser measured = new TomlParser(chars, chars.length, TomlParser.Bounds.UNLIMITED);
        TomlTable result = measured.document();
        tree = usedAfterGc() - base - text;
        estimate = measured.heapBytes();
        List<UsageRecord> list = recordsOf(parser, bytes);
        records = usedAfterGc() - base - text - tree;
        outcome = list == null ? "no records" : list.size() + " records";
        reachabilityFence(result, list);
      } catch (TomlSyntaxException | BatchContentException ex) {
        outcome = "refused: " + ex.getMessage();
      } catch (OutOfMemoryError oom) {
        outcome = "out of memory";
      }
      double n = bytes.length;
      System.out.printf(Locale.ROOT, "%-20s %10d %8.2f %8.2f %8.2f %8.2f  %s%n", e.getKey(), bytes.length,
          text / n, tree / n, estimate / n, records / n, outcome);
      reachabilityFence(bytes, chars);
    }
  }

  private static List<UsageRecord> recordsOf(BatchParser parser, byte[] bytes) throws BatchContentException {
    UsageBatch batch = parser.parse("nodes/n/usage_2026-11-21-10.toml", "n", bytes);
    return batch.records().isEmpty() ? null : batch.records();
  }

  private static volatile Object sink;

  private static void reachabilityFence(Object a, Object b) {
    sink = a;
    sink = b;
    sink = null;
  }

  private static long usedAfterGc() {
    for (int i = 0; i < 3; i++) {
      System.gc();
    }
    return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
  }

  private static void minHeap(int size, List<String> only) throws IOException, InterruptedException {
    Path dir = Files.createTempDirectory("meterd-heap-probe");
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    String cp = System.getProperty("java.class.path");
    System.out.printf(Locale.ROOT, "%-20s %10s %8s %8s  %s%n", "shape", "bytes", "Xmx MiB", "Xmx/B", "outcome");
    for (Map.Entry<String, IntFunction<byte[]>> e : shapes().entrySet()) {
      if (!only.isEmpty() && !only.contains(e.getKey())) {
        continue;
      }
      Path file = dir.resolve(e.getKey() + ".toml");
      byte[] bytes = e.getValue().apply(size);
      Files.write(file, bytes);
      int low = 8;
      int high = 2048;
      String outcome = "";
      while (low < high) {
        int mid = (low + high) / 2;
        Process p = new ProcessBuilder(java, "-Xmx" + mid + "m", "-cp", cp, ParserHeapProbe.class.getName(), "parse",
            "0", file.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        p.waitFor(10, TimeUnit.MINUTES);
        if (p.exitValue() == 3) {
          low = mid + 1;
        } else {
          high = mid;
          outcome = out;
        }
      }
      System.out.printf(Locale.ROOT, "%-20s %10d %8d %8.2f  %s%n", e.getKey(), bytes.length, low,
          (low * 1048576.0) / bytes.length, outcome.length() > 120 ? outcome.substring(0, 120) : outcome);
      Files.delete(file);
    }
    Files.delete(dir);
  }

  /** Parses one file as the aggregator does; exit 0 parsed, 1 refused, 3 out of memory. */
  private static int parseFile(Path file) throws IOException {
    BatchParser parser = new BatchParser(BatchParser.Limits.DEFAULT);
    try {
      UsageBatch batch = parser.parse("nodes/n/usage_2026-11-21-10.toml", "n", Files.readAllBytes(file));
      System.out.println(batch.records().size() + " records");
      return 0;
    } catch (BatchContentException e) {
      System.out.println("refused: " + e.getMessage());
      return 1;
    } catch (OutOfMemoryError e) {
      return 3;
    }
  }
}
