package dev.meterd.cli;

import dev.meterd.batch.BatchParser;
import java.nio.charset.StandardCharsets;

/**
 * {@code bench parse} with Jackson's TOML module beside meterd's parser and tomlj. Jackson is a
 * test dependency only (operators do not run it), so this comparison lives here:
 * {@code mvn -q test-compile exec:java -Dexec.classpathScope=test -Dexec.mainClass=dev.meterd.cli.ParserComparison}.
 */
public final class ParserComparison {

  private ParserComparison() {}

  public static void main(String[] args) throws Exception {
    BenchCommand.Parse bench = new BenchCommand.Parse();
    bench.records = args.length > 0 ? Integer.parseInt(args[0]) : 20_000;
    bench.rounds = args.length > 1 ? Integer.parseInt(args[1]) : 10;
    byte[] file = bench.file();
    BenchCommand.say("one file of %d records, %d KiB; best of %d rounds after warm-up", bench.records,
        file.length >> 10, bench.rounds);
    BatchParser ours = new BatchParser(BatchParser.Limits.DEFAULT);
    var jackson = new com.fasterxml.jackson.dataformat.toml.TomlMapper();
    bench.measure("meterd (strict TOML 1.0, validated records)", () -> ours.parse(
        BenchCommand.Parse.PATH, BenchCommand.Parse.NODE, file).records().size());
    bench.measure("jackson-dataformat-toml (tree only, no validation)", () -> jackson.readTree(file)
        .get("records").size());
    bench.measure("tomlj (tree only, no validation)", () -> org.tomlj.Toml.parse(
        new String(file, StandardCharsets.UTF_8)).getArray("records").size());
  }
}
