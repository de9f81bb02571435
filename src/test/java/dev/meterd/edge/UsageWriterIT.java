package dev.meterd.edge;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meterd.batch.BatchParser;
import dev.meterd.batch.UsageBatch;
import dev.meterd.engine.Aggregator;
import dev.meterd.engine.FaultInjector;
import dev.meterd.engine.RunRequest;
import dev.meterd.engine.RunSummary;
import dev.meterd.ledger.SqliteLedger;
import dev.meterd.ledger.Wallet;
import dev.meterd.source.git.GitBatchSource;
import dev.meterd.testing.UsageRepo;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The edge writer on real clones of a real bare repository, read back by the real aggregator. */
class UsageWriterIT {

  private static final Instant AT = Instant.parse("2026-11-21T10:00:03Z");
  private static final UsageWriter.PushPolicy FAST = new UsageWriter.PushPolicy(5, Duration.ofMillis(5),
      Duration.ofMillis(20));

  @TempDir
  Path tmp;

  private UsageRepo bare;
  private final Clock clock = Clock.fixed(Instant.parse("2026-11-21T10:30:00Z"), ZoneOffset.UTC);

  @BeforeEach
  void setUp() throws Exception {
    bare = new UsageRepo(tmp.resolve("usage.git"));
    bare.commit("README.md", "the usage repository");
  }

  @AfterEach
  void tearDown() {
    bare.close();
  }

  private Path cloneOf(String name) throws Exception {
    return bare.cloneTo(tmp.resolve("clones").resolve(name));
  }

  private RunSummary aggregate(SqliteLedger ledger) throws Exception {
    return aggregate(ledger, BatchParser.Limits.DEFAULT);
  }

  /** One aggregation run over the bare repository, by a reader with {@code limits}. */
  private RunSummary aggregate(SqliteLedger ledger, BatchParser.Limits limits) throws Exception {
    try (GitBatchSource source = GitBatchSource.open(bare.dir().toString(), "main", tmp.resolve("c"),
        Optional.empty())) {
      return new Aggregator(source, ledger, new BatchParser(limits), clock, FaultInjector.NONE).run(RunRequest.ALL);
    }
  }

  private static long balance(SqliteLedger ledger, String user) {
    return ledger.reads().wallet(user).map(Wallet::balanceCents).orElseThrow();
  }

  @Test
  void recordsAreWrittenAsTheReaderReadsThemAndPushed() throws Exception {
    Path clone = cloneOf("edge-1");
    UsageWriter writer = UsageWriter.open(clone, "edge-1", clock);
    List<UsageWriter.Written> written = writer.record(List.of(
        new Usage("u \"quoted\" \\ ü", 42, AT, "edge-1/k1", "llm.tokens", 1200L),
        Usage.of("u2", 0, AT.plusSeconds(3600))));
    assertThat(written.get(0)).isEqualTo(new UsageWriter.Written("edge-1/k1", "nodes/edge-1/usage_2026-11-21-10.toml",
        UsageWriter.Outcome.APPENDED));
    assertThat(written.get(1).file()).isEqualTo("nodes/edge-1/usage_2026-11-21-11.toml");
    assertThat(Files.readString(clone.resolve("nodes/edge-1/usage_2026-11-21-10.toml"))).isEqualTo("""
        schema = 1
        node = "edge-1"

        [[records]]
        idempotency_key = "edge-1/k1"
        user_sid = "u \\"quoted\\" \\\\ ü"
        cost_cents = 42
        resource = "llm.tokens"
        quantity = 1200
        occurred_at = 2026-11-21T10:00:03Z
        """);
    writer.record(Usage.of("u2", 5, AT));

    UsageWriter.Pushed pushed = writer.push(Optional.empty(), FAST);
    assertThat(pushed).isEqualTo(new UsageWriter.Pushed("edge-1", "main", 2, bare.tip(), 1));
    assertThat(writer.push(Optional.empty(), FAST)).as("nothing pending")
        .isEqualTo(new UsageWriter.Pushed("edge-1", "main", 0, bare.tip(), 1));

    try (SqliteLedger ledger = SqliteLedger.open(tmp.resolve("meterd.db"), clock)) {
      RunSummary s = aggregate(ledger);
      assertThat(s.halted()).isEmpty();
      assertThat(s.recordsConsumed()).isEqualTo(3);
      assertThat(balance(ledger, "u \"quoted\" \\ ü")).isEqualTo(-42);
      assertThat(balance(ledger, "u2")).isEqualTo(-5);
    }
  }

  @Test
  void anInvalidRecordOrNodeWritesNothing() throws Exception {
    Path clone = cloneOf("edge-1");
    UsageWriter writer = UsageWriter.open(clone, "edge-1", clock);
    assertThatThrownBy(() -> writer.record(List.of(Usage.of("u1", 5, AT), Usage.of("u1", -1, AT))))
        .isInstanceOf(InvalidUsageException.class).hasMessage("record 2: cost_cents must be >= 0, got -1");
    assertThatThrownBy(() -> writer.record(Usage.of("u\u0001", 5, AT)))
        .isInstanceOf(InvalidUsageException.class)
        .hasMessage("the record: user_sid must not contain control characters, found U+0001");
    assertThatThrownBy(() -> writer.record(new Usage("u1", 5, AT, "", null, null)))
        .isInstanceOf(InvalidUsageException.class)
        .hasMessage("the record: idempotency_key must be 1 to 200 characters, got 0");
    assertThat(clone.resolve("nodes")).doesNotExist();
    assertThatThrownBy(() -> UsageWriter.open(clone, "../evil", clock)).isInstanceOf(InvalidUsageException.class)
        .hasMessage("node name \"../evil\" must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$");
    assertThatThrownBy(() -> UsageWriter.open(tmp, "edge-1", clock)).isInstanceOf(EdgeException.class)
        .hasMessageStartingWith(tmp + " is not a clone of the usage repository");
  }

  @Test
  void newKeysAreUniqueAndInCreationOrder() {
    Keys keys = new Keys(Clock.systemUTC());
    List<String> made = new ArrayList<>();
    for (int i = 0; i < 20_000; i++) {
      made.add(keys.next());
    }
    assertThat(new HashSet<>(made)).hasSize(20_000);
    assertThat(made).isSorted();
    assertThat(made).allMatch(k -> k.matches("[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"));
  }

  @Test
  void aPushBehindTheRemoteIsRebasedAndTriedAgain() throws Exception {
    Path one = cloneOf("n1");
    Path two = cloneOf("n2");
    UsageWriter first = UsageWriter.open(one, "n1", clock);
    UsageWriter second = UsageWriter.open(two, "n2", clock);
    first.record(Usage.of("u1", 1, AT));
    second.record(Usage.of("u1", 2, AT));
    assertThat(first.push(Optional.empty(), FAST).attempts()).isEqualTo(1);
    UsageWriter.Pushed behind = second.push(Optional.empty(), FAST);
    assertThat(behind.attempts()).isEqualTo(2);
    assertThat(behind.head()).isEqualTo(bare.tip());
    assertThat(bare.committer().read("nodes/n1/usage_2026-11-21-10.toml")).isNotNull();
    assertThat(bare.committer().read("nodes/n2/usage_2026-11-21-10.toml")).isNotNull();
  }

  @Test
  void aTornLastRecordIsCutOffBeforeTheNextWriteAndNeverPushed() throws Exception {
    Path clone = cloneOf("edge-1");
    UsageWriter writer = UsageWriter.open(clone, "edge-1", clock);
    writer.record(new Usage("u1", 7, AT, "whole", null, null));
    Path file = clone.resolve("nodes/edge-1/usage_2026-11-21-10.toml");
    String whole = Files.readString(file);
    // What a write cut short by a full disk or a power cut leaves.
    Files.writeString(file, whole + "\n[[records]]\nidempotency_key = \"torn\"\nuser_sid = \"u1\"\ncost_ce");

    writer.record(new Usage("u1", 9, AT, "after", null, null));
    String repaired = Files.readString(file);
    assertThat(repaired).startsWith(whole).doesNotContain("torn").contains("idempotency_key = \"after\"");
    UsageBatch batch = new BatchParser(BatchParser.Limits.DEFAULT).parse("f", "edge-1",
        repaired.getBytes(StandardCharsets.UTF_8));
    assertThat(batch.records()).extracting(r -> r.idempotencyKey()).containsExactly("whole", "after");

    Files.writeString(file, repaired + "\n[[records]]\nidem");
    writer.push(Optional.empty(), FAST);
    assertThat(new String(bare.committer().read("nodes/edge-1/usage_2026-11-21-10.toml"), StandardCharsets.UTF_8))
        .isEqualTo(repaired);
  }

  @Test
  void aFileNoWriterCanRepairIsNotPushed() throws Exception {
    Path clone = cloneOf("edge-1");
    UsageWriter writer = UsageWriter.open(clone, "edge-1", clock);
    String before = bare.tip();
    Files.createDirectories(clone.resolve("nodes/edge-1"));
    Files.writeString(clone.resolve("nodes/edge-1/usage_2026-11-21-10.toml"), "schema = 1\ncost = [1,\n");
    assertThatThrownBy(() -> writer.push(Optional.empty(), FAST)).isInstanceOf(EdgeException.class)
        .hasMessage("nodes/edge-1/usage_2026-11-21-10.toml is not a valid batch, and not a partial one this writer "
            + "can repair: line 2: not valid TOML: array is not closed with ']'; fix or move the file");
    assertThat(bare.tip()).isEqualTo(before);
  }

  @Test
  void aStaleIndexLockFromAnInterruptedCommitIsCleared() throws Exception {
    Path clone = cloneOf("edge-1");
    UsageWriter writer = UsageWriter.open(clone, "edge-1", clock);
    writer.record(Usage.of("u1", 3, AT));
    Files.writeString(clone.resolve(".git/index.lock"), "");
    assertThat(writer.push(Optional.empty(), FAST).committed()).isEqualTo(1);
    assertThat(clone.resolve(".git/index.lock")).doesNotExist();
    assertThat(bare.committer().read("nodes/edge-1/usage_2026-11-21-10.toml")).isNotNull();
  }

  private static void git(Path dir, String... args) throws Exception {
    List<String> cmd = new ArrayList<>(List.of("git", "-c", "user.email=t@localhost", "-c", "user.name=t"));
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    p.waitFor();
    assertThat(out).isNotNull();
  }

  @Test
  void aRebaseLeftByAKilledPushIsAbortedWithoutLosingARecord() throws Exception {
    Path clone = cloneOf("edge-1");
    UsageWriter writer = UsageWriter.open(clone, "edge-1", clock);
    writer.record(new Usage("u1", 3, AT, "pushed", null, null));
    writer.push(Optional.empty(), FAST);
    writer.record(new Usage("u1", 4, AT, "committed", null, null));
    git(clone, "add", "-A");
    git(clone, "commit", "-q", "-m", "a commit the push had made");
    // A rebase stopped halfway, as a push killed inside it leaves one (git's own rebase-merge state).
    git(clone, "rebase", "--exec", "false", "HEAD~1");
    assertThat(clone.resolve(".git/rebase-merge")).isDirectory();
    writer.record(new Usage("u1", 5, AT, "recorded-after-the-crash", null, null));

    UsageWriter.Pushed pushed = writer.push(Optional.empty(), FAST);
    assertThat(pushed.committed()).isEqualTo(1);
    assertThat(clone.resolve(".git/rebase-merge")).doesNotExist();
    String file = new String(bare.committer().read("nodes/edge-1/usage_2026-11-21-10.toml"), StandardCharsets.UTF_8);
    UsageBatch batch = new BatchParser(BatchParser.Limits.DEFAULT).parse("f", "edge-1",
        file.getBytes(StandardCharsets.UTF_8));
    assertThat(batch.records()).extracting(r -> r.idempotencyKey())
        .containsExactly("pushed", "committed", "recorded-after-the-crash");
  }

  @Test
  void mergingKeepsEveryRecordBlockOfBothSidesOnce() {
    String header = BatchText.header("n");
    String a = BatchText.record(new StringBuilder(), "a", "u", 1, AT, null, null).toString();
    String b = BatchText.record(new StringBuilder(), "b", "u", 2, AT, null, null).toString();
    String c = BatchText.record(new StringBuilder(), "c", "u", 3, AT, "r", 7L).toString();
    assertThat(UsageWriter.withBlocksOf(header + a + b, header + a + c)).isEqualTo(header + a + b + c);
    assertThat(UsageWriter.withBlocksOf(header + a + b + c, header + b)).isEqualTo(header + a + b + c);
    assertThat(UsageWriter.withBlocksOf(header, header + a)).isEqualTo(header + a);
  }

  // ---- files the reader takes: limits and keys (issue 10, defect 8)

  private static final String HOUR_FILE = "nodes/edge-1/usage_2026-11-21-10.toml";

  /** Every usage file of the node in the clone, by name, each parsed by the reader with {@code limits}. */
  private static java.util.Map<String, List<String>> keysByFile(Path clone, BatchParser.Limits limits)
      throws Exception {
    java.util.Map<String, List<String>> result = new java.util.TreeMap<>();
    try (var files = Files.list(clone.resolve("nodes/edge-1"))) {
      for (Path f : files.sorted().toList()) {
        UsageBatch batch = new BatchParser(limits).parse(f.getFileName().toString(), "edge-1", Files.readAllBytes(f));
        result.put(f.getFileName().toString(), batch.records().stream().map(r -> r.idempotencyKey()).toList());
      }
    }
    return result;
  }

  @Test
  void aFileAtTheReadersDefaultSizeLimitGoesOnInTheHoursNextFile() throws Exception {
    Path clone = cloneOf("edge-1");
    // The hour file as a busy node leaves it: one more record would take it past 16 MiB.
    long limit = BatchParser.Limits.DEFAULT.maxFileBytes();
    StringBuilder full = new StringBuilder(BatchText.header("edge-1"));
    int records = 0;
    while (true) {
      String block = BatchText.record(new StringBuilder(), String.format("k%07d", records), "u1", 1, AT, null, null)
          .toString();
      if (full.length() + block.length() > limit) {
        break;
      }
      full.append(block);
      records++;
    }
    Files.createDirectories(clone.resolve("nodes/edge-1"));
    Files.writeString(clone.resolve(HOUR_FILE), full);
    UsageWriter writer = UsageWriter.open(clone, "edge-1", clock);

    List<UsageWriter.Written> written = writer.record(List.of(new Usage("u1", 1, AT, "next-1", null, null),
        new Usage("u1", 1, AT, "next-2", null, null)));

    assertThat(written).extracting(UsageWriter.Written::file)
        .containsExactly("nodes/edge-1/usage_2026-11-21-10.1.toml", "nodes/edge-1/usage_2026-11-21-10.1.toml");
    assertThat(Files.readString(clone.resolve(HOUR_FILE))).isEqualTo(full.toString());
    var files = keysByFile(clone, BatchParser.Limits.DEFAULT);
    assertThat(files.keySet()).containsExactly("usage_2026-11-21-10.1.toml", "usage_2026-11-21-10.toml");
    assertThat(files.get("usage_2026-11-21-10.toml")).hasSize(records);
    assertThat(files.get("usage_2026-11-21-10.1.toml")).containsExactly("next-1", "next-2");

    // The next test pushes and aggregates rolled-over files; with a 16 MiB file that takes half a minute here.
  }

  @Test
  void aKeyAlreadyWrittenWithOtherContentIsRefusedAndNothingIsWritten() throws Exception {
    Path clone = cloneOf("edge-1");
    UsageWriter writer = UsageWriter.open(clone, "edge-1", clock);
    writer.record(new Usage("u1", 5, AT, "k1", null, null));
    writer.record(new Usage("u1", 6, AT.plusSeconds(3600), "k2", null, null));
    String hour10 = Files.readString(clone.resolve(HOUR_FILE));

    assertThatThrownBy(() -> writer.record(new Usage("u1", 7, AT, "k1", null, null)))
        .isInstanceOf(InvalidUsageException.class)
        .hasMessage("the record: idempotency_key \"k1\" is already in " + HOUR_FILE + " with user_sid \"u1\" "
            + "and cost_cents 5; a key names one record forever: send that record again as it was, or use a new key");
    assertThatThrownBy(() -> writer.record(List.of(new Usage("u1", 1, AT, "k3", null, null),
        new Usage("u2", 6, AT, "k2", null, null))))
        .isInstanceOf(InvalidUsageException.class)
        .hasMessage("record 2: idempotency_key \"k2\" is already in nodes/edge-1/usage_2026-11-21-11.toml with "
            + "user_sid \"u1\" and cost_cents 6; a key names one record forever: send that record again as it "
            + "was, or use a new key");
    assertThatThrownBy(() -> writer.record(List.of(new Usage("u1", 1, AT, "k4", null, null),
        new Usage("u1", 2, AT, "k4", null, null))))
        .isInstanceOf(InvalidUsageException.class)
        .hasMessage("record 2: idempotency_key \"k4\" is record 1's, with user_sid \"u1\" and cost_cents 1; "
            + "a key names one record forever: send that record again as it was, or use a new key");
    assertThat(Files.readString(clone.resolve(HOUR_FILE))).isEqualTo(hour10);
    assertThat(keysByFile(clone, BatchParser.Limits.DEFAULT)).containsExactly(
        java.util.Map.entry("usage_2026-11-21-10.toml", List.of("k1")),
        java.util.Map.entry("usage_2026-11-21-11.toml", List.of("k2")));
  }

  @Test
  void aKeyAlreadyWrittenWithTheSameContentIsNotWrittenAgain() throws Exception {
    Path clone = cloneOf("edge-1");
    UsageWriter writer = UsageWriter.open(clone, "edge-1", clock);
    writer.record(new Usage("u1", 5, AT, "k1", "llm.tokens", 10L));
    // The reader compares user_sid and cost_cents only: another resource or time is the same record to it.
    List<UsageWriter.Written> again = writer.record(List.of(new Usage("u1", 5, AT.plusSeconds(3600), "k1", null,
        null), new Usage("u1", 8, AT, "k2", null, null), new Usage("u1", 8, AT, "k2", null, null)));

    assertThat(again).containsExactly(
        new UsageWriter.Written("k1", HOUR_FILE, UsageWriter.Outcome.ALREADY_RECORDED),
        new UsageWriter.Written("k2", HOUR_FILE, UsageWriter.Outcome.APPENDED),
        new UsageWriter.Written("k2", HOUR_FILE, UsageWriter.Outcome.ALREADY_RECORDED));
    assertThat(keysByFile(clone, BatchParser.Limits.DEFAULT))
        .containsExactly(java.util.Map.entry("usage_2026-11-21-10.toml", List.of("k1", "k2")));
  }

  @Test
  void filesRollOverAtTheRecordLimitTheNodeIsToldAndTheReaderWithThatLimitConsumesThemAll() throws Exception {
    Path clone = cloneOf("edge-1");
    BatchParser.Limits limits = new BatchParser.Limits(BatchParser.Limits.DEFAULT_MAX_FILE_BYTES, 3);
    UsageWriter writer = UsageWriter.open(clone, "edge-1", clock, limits);
    writer.record(List.of(Usage.of("u1", 1, AT), Usage.of("u1", 2, AT)));
    List<UsageWriter.Written> written = writer.record(List.of(Usage.of("u1", 3, AT), Usage.of("u1", 4, AT),
        Usage.of("u2", 5, AT.plusSeconds(3600)), Usage.of("u1", 6, AT), Usage.of("u1", 7, AT), Usage.of("u1", 8, AT)));
    writer.record(Usage.of("u1", 9, AT));

    assertThat(written).extracting(UsageWriter.Written::file).containsExactly(
        "nodes/edge-1/usage_2026-11-21-10.toml", "nodes/edge-1/usage_2026-11-21-10.1.toml",
        "nodes/edge-1/usage_2026-11-21-11.toml", "nodes/edge-1/usage_2026-11-21-10.1.toml",
        "nodes/edge-1/usage_2026-11-21-10.1.toml", "nodes/edge-1/usage_2026-11-21-10.2.toml");
    var files = keysByFile(clone, limits);
    assertThat(files.keySet()).containsExactly("usage_2026-11-21-10.1.toml", "usage_2026-11-21-10.2.toml",
        "usage_2026-11-21-10.toml", "usage_2026-11-21-11.toml");
    assertThat(files.values()).extracting(List::size).containsExactly(3, 2, 3, 1);

    writer.push(Optional.empty(), FAST);
    try (SqliteLedger ledger = SqliteLedger.open(tmp.resolve("meterd.db"), clock)) {
      RunSummary s = aggregate(ledger, limits);
      assertThat(s.halted()).isEmpty();
      assertThat(s.recordsConsumed()).isEqualTo(9);
      assertThat(s.recordsDuplicate()).isZero();
      assertThat(balance(ledger, "u1")).isEqualTo(-40);
      assertThat(balance(ledger, "u2")).isEqualTo(-5);
    }
  }

  @Test
  void filesRollOverAtTheSizeLimitTheNodeIsToldAndAFileMayReachItExactly() throws Exception {
    Path clone = cloneOf("edge-1");
    int header = BatchText.header("edge-1").length();
    int block = BatchText.record(new StringBuilder(), "k0", "u1", 1, AT, null, null).length();
    // Room for exactly two blocks of this size in a file.
    BatchParser.Limits limits = new BatchParser.Limits(header + 2L * block, 1000);
    UsageWriter writer = UsageWriter.open(clone, "edge-1", clock, limits);
    for (int i = 0; i < 5; i++) {
      writer.record(new Usage("u1", 1, AT, "k" + i, null, null));
    }
    assertThat(Files.size(clone.resolve(HOUR_FILE))).isEqualTo(limits.maxFileBytes());
    assertThat(keysByFile(clone, limits)).containsExactly(
        java.util.Map.entry("usage_2026-11-21-10.1.toml", List.of("k2", "k3")),
        java.util.Map.entry("usage_2026-11-21-10.2.toml", List.of("k4")),
        java.util.Map.entry("usage_2026-11-21-10.toml", List.of("k0", "k1")));

    String longKey = "k".repeat(block + 3);
    assertThatThrownBy(() -> writer.record(new Usage("u1", 1, AT, longKey, null, null)))
        .isInstanceOf(InvalidUsageException.class)
        .hasMessage("the record: it takes " + (limits.maxFileBytes() + 1) + " bytes in a file of its own, over the file "
            + "size limit of " + limits.maxFileBytes() + " bytes; make it smaller or raise the limit "
            + "(record --max-file-bytes, as the reader's max_file_bytes)");
    assertThat(keysByFile(clone, limits).get("usage_2026-11-21-10.2.toml")).containsExactly("k4");
  }

  @Test
  void aFileOverTheLimitFromAnEarlierSettingIsLeftAsItIs() throws Exception {
    Path clone = cloneOf("edge-1");
    UsageWriter.open(clone, "edge-1", clock).record(List.of(new Usage("u1", 1, AT, "a", null, null),
        new Usage("u1", 1, AT, "b", null, null)));
    String before = Files.readString(clone.resolve(HOUR_FILE));
    UsageWriter.open(clone, "edge-1", clock, new BatchParser.Limits(1_000_000, 1))
        .record(new Usage("u1", 1, AT, "c", null, null));
    assertThat(Files.readString(clone.resolve(HOUR_FILE))).isEqualTo(before);
    assertThat(keysByFile(clone, BatchParser.Limits.DEFAULT).get("usage_2026-11-21-10.1.toml")).containsExactly("c");

    // The same with a file in another layout, which is counted by the parser.
    Files.writeString(clone.resolve("nodes/edge-1/usage_2026-11-21-11.toml"), UsageRepo.batch(
        UsageRepo.record("d", "u1", 1), UsageRepo.record("e", "u1", 1)));
    assertThat(UsageWriter.open(clone, "edge-1", clock, new BatchParser.Limits(1_000_000, 1))
        .record(new Usage("u1", 1, AT.plusSeconds(3600), "f", null, null)).file())
        .isEqualTo("nodes/edge-1/usage_2026-11-21-11.1.toml");
  }

  @Test
  void aValidFileOfAnotherLayoutOverTheRecordLimitIsNeverCut() throws Exception {
    Path clone = cloneOf("edge-1");
    Files.createDirectories(clone.resolve("nodes/edge-1"));
    Path file = clone.resolve("nodes/edge-1/usage_2026-11-21-11.toml");
    // Complete and valid, but its last line is not occurred_at: another key order, a blank line at the end.
    String other = """
        schema = 1
        node = "edge-1"

        [[records]]
        idempotency_key = "d"
        user_sid = "u1"
        occurred_at = 2026-11-21T11:00:00Z
        cost_cents = 1

        [[records]]
        idempotency_key = "e"
        user_sid = "u1"
        occurred_at = 2026-11-21T11:00:01Z
        cost_cents = 2

        """;
    Files.writeString(file, other);
    BatchParser.Limits oneRecord = new BatchParser.Limits(BatchParser.Limits.DEFAULT_MAX_FILE_BYTES, 1);
    UsageWriter writer = UsageWriter.open(clone, "edge-1", clock, oneRecord);
    assertThat(writer.record(new Usage("u1", 3, AT.plusSeconds(3600), "f", null, null)).file())
        .isEqualTo("nodes/edge-1/usage_2026-11-21-11.1.toml");
    assertThat(Files.readString(file)).isEqualTo(other);

    assertThatThrownBy(() -> writer.push(Optional.empty(), FAST)).isInstanceOf(EdgeException.class)
        .hasMessage("not pushed: nodes/edge-1/usage_2026-11-21-11.toml is not a valid batch: line 10: record 2 is "
            + "over the limit of 1 records per file");
    assertThat(Files.readString(file)).isEqualTo(other);
  }

  @Test
  void textWithALoneSurrogateIsRefusedNotWrittenAsAQuestionMark() throws Exception {
    Path clone = cloneOf("edge-1");
    UsageWriter writer = UsageWriter.open(clone, "edge-1", clock);
    assertThatThrownBy(() -> writer.record(new Usage("u1", 1, AT, "k\uD800", null, null)))
        .isInstanceOf(InvalidUsageException.class)
        .hasMessage("the record: idempotency_key holds a lone UTF-16 surrogate (at character 2), which has no "
            + "UTF-8 form; send well-formed Unicode text");
    assertThatThrownBy(() -> writer.record(List.of(Usage.of("u1", 1, AT), Usage.of("\uDC00u", 1, AT))))
        .isInstanceOf(InvalidUsageException.class)
        .hasMessage("record 2: user_sid holds a lone UTF-16 surrogate (at character 1), which has no "
            + "UTF-8 form; send well-formed Unicode text");
    assertThatThrownBy(() -> writer.record(new Usage("u1", 1, AT, "k", "r\uDC00\uD800", 1L)))
        .isInstanceOf(InvalidUsageException.class)
        .hasMessage("the record: resource holds a lone UTF-16 surrogate (at character 2), which has no "
            + "UTF-8 form; send well-formed Unicode text");
    assertThat(clone.resolve(HOUR_FILE)).doesNotExist();
    assertThat(writer.record(new Usage("u\uD83D\uDE00", 1, AT, "k\uD83D\uDE00", null, null)).outcome())
        .as("a surrogate pair is well-formed").isEqualTo(UsageWriter.Outcome.APPENDED);
    assertThat(Files.readString(clone.resolve(HOUR_FILE))).contains("idempotency_key = \"k\uD83D\uDE00\"");
  }

  @Test
  void anHourWhoseLastFileIsInAnotherLayoutGoesOnInItsNextFile() throws Exception {
    Path clone = cloneOf("edge-1");
    Files.createDirectories(clone.resolve("nodes/edge-1"));
    // An inline array of records: a [[records]] block after it would not be TOML.
    String inline = """
        schema = 1
        records = [ { idempotency_key = "d", user_sid = "u1", cost_cents = 1, occurred_at = 2026-11-21T10:00:00Z } ]
        """;
    Files.writeString(clone.resolve(HOUR_FILE), inline);
    UsageWriter writer = UsageWriter.open(clone, "edge-1", clock);
    assertThat(writer.record(new Usage("u1", 2, AT, "e", null, null)).file())
        .isEqualTo("nodes/edge-1/usage_2026-11-21-10.1.toml");
    assertThat(Files.readString(clone.resolve(HOUR_FILE))).isEqualTo(inline);

    writer.push(Optional.empty(), FAST);
    try (SqliteLedger ledger = SqliteLedger.open(tmp.resolve("meterd.db"), clock)) {
      RunSummary s = aggregate(ledger);
      assertThat(s.halted()).isEmpty();
      assertThat(s.recordsConsumed()).isEqualTo(2);
      assertThat(balance(ledger, "u1")).isEqualTo(-3);
    }
  }

  @Test
  void aNodesJournalDoesNotCollideWithTheStagingFolderOfANodeNamedLikeIt() throws Exception {
    Path clone = cloneOf("edge-1");
    // Node "a.journal" stages its files in a folder that node "a"'s journal once took the name of.
    UsageWriter.open(clone, "a.journal", clock).record(Usage.of("u1", 1, AT));
    List<UsageWriter.Written> written = UsageWriter.open(clone, "a", clock).record(List.of(
        Usage.of("u1", 2, AT), Usage.of("u1", 3, AT.plusSeconds(3600))));
    assertThat(written).extracting(UsageWriter.Written::file).containsExactly("nodes/a/usage_2026-11-21-10.toml",
        "nodes/a/usage_2026-11-21-11.toml");
    assertThat(clone.resolve("nodes/a/usage_2026-11-21-11.toml")).exists();
  }

  @Test
  void writersOfOneCloneReachedThroughALinkShareOneLock() throws Exception {
    Path clone = cloneOf("edge-1");
    Path link = Files.createSymbolicLink(tmp.resolve("link"), clone);
    UsageWriter direct = UsageWriter.open(clone, "edge-1", clock);
    UsageWriter linked = UsageWriter.open(link, "edge-1", clock);
    // One lock file, one lock in this JVM: two would let both threads ask the JVM for the same
    // file lock, which it refuses with OverlappingFileLockException.
    assertThat(linked.lockFile()).isEqualTo(direct.lockFile())
        .isEqualTo(clone.toRealPath().resolve(".git").resolve("meterd-writer.lock"));
  }

  @Test
  void keysAreFoundInFilesOfAnotherLayoutThroughTheReadersParser() throws Exception {
    Path clone = cloneOf("edge-1");
    Files.createDirectories(clone.resolve("nodes/edge-1"));
    // What another tool might write: literal strings, another key order, a comment.
    Files.writeString(clone.resolve("nodes/edge-1/usage_2026-11-21-09.otoml"), """
        schema = 1 # written by hand
        [[records]]
        cost_cents = 5
        user_sid = 'u "1"'
        idempotency_key = 'k\\1'
        occurred_at = 2026-11-21T09:00:00Z
        """);
    UsageWriter writer = UsageWriter.open(clone, "edge-1", clock);
    assertThat(writer.record(new Usage("u \"1\"", 5, AT, "k\\1", null, null)).outcome())
        .isEqualTo(UsageWriter.Outcome.ALREADY_RECORDED);
    assertThatThrownBy(() -> writer.record(new Usage("u \"1\"", 6, AT, "k\\1", null, null)))
        .isInstanceOf(InvalidUsageException.class)
        .hasMessage("the record: idempotency_key \"k\\\\1\" is already in nodes/edge-1/usage_2026-11-21-09.otoml "
            + "with user_sid \"u \\\"1\\\"\" and cost_cents 5; a key names one record forever: send that record "
            + "again as it was, or use a new key");
    assertThat(clone.resolve(HOUR_FILE)).doesNotExist();

    Files.writeString(clone.resolve("nodes/edge-1/usage_2026-11-21-08.toml"), """
        schema = 2
        [[records]]
        idempotency_key = 'x'
        user_sid = 'u'
        cost_cents = 1
        occurred_at = 2026-11-21T08:00:00Z
        """);
    assertThatThrownBy(() -> writer.record(new Usage("u1", 6, AT, "k2", null, null)))
        .isInstanceOf(EdgeException.class)
        .hasMessage("cannot check idempotency keys against nodes/edge-1/usage_2026-11-21-08.toml: it is not a valid "
            + "batch (line 1: schema must be 1, got 2 (this meterd reads wire format version 1)); fix or move the "
            + "file");
    assertThat(writer.record(Usage.of("u1", 6, AT)).outcome()).as("a new key is not looked up")
        .isEqualTo(UsageWriter.Outcome.APPENDED);
  }

  @Test
  void aPushThatRunsOutOfTriesKeepsItsCommitAndTheNextPushSendsIt() throws Exception {
    Path clone = cloneOf("edge-1");
    UsageWriter writer = UsageWriter.open(clone, "edge-1", clock);
    writer.record(new Usage("u1", 5, AT, "k1", null, null));
    String before = bare.tip();
    // A lock left on the remote's branch, as a crashed receive-pack leaves one: every push is refused.
    Path stale = bare.dir().resolve("refs/heads/main.lock");
    Files.createDirectories(stale.getParent());
    Files.writeString(stale, "");

    UsageWriter.PushPolicy threeTries = new UsageWriter.PushPolicy(3, Duration.ZERO, Duration.ZERO);
    assertThatThrownBy(() -> writer.push(Optional.empty(), threeTries)).isInstanceOf(EdgeException.class)
        .hasMessage("cannot push nodes/edge-1 to origin/main after 3 tries: REJECTED_OTHER_REASON (failed to lock); "
            + "the commits stay in the clone, and the next push sends them");
    assertThat(bare.tip()).isEqualTo(before);
    try (org.eclipse.jgit.api.Git git = org.eclipse.jgit.api.Git.open(clone.toFile())) {
      assertThat(git.status().call().isClean()).as("the records are committed").isTrue();
      assertThat(git.log().call().iterator().next().getFullMessage()).isEqualTo("edge-1: usage, 1 file");
    }

    Files.delete(stale);
    UsageWriter.Pushed pushed = writer.push(Optional.empty(), threeTries);
    assertThat(pushed).isEqualTo(new UsageWriter.Pushed("edge-1", "main", 0, bare.tip(), 1));
    assertThat(bare.tip()).isNotEqualTo(before);
    try (SqliteLedger ledger = SqliteLedger.open(tmp.resolve("meterd.db"), clock)) {
      assertThat(aggregate(ledger).recordsConsumed()).isEqualTo(1);
      assertThat(balance(ledger, "u1")).isEqualTo(-5);
    }
  }

  @Test
  void threadsWritingOneCloneAtOnceTakeTurnsAndEveryRecordLandsOnce() throws Exception {
    Path clone = cloneOf("edge-1");
    BatchParser.Limits limits = new BatchParser.Limits(BatchParser.Limits.DEFAULT_MAX_FILE_BYTES, 50);
    int calls = 30;
    java.util.concurrent.CyclicBarrier start = new java.util.concurrent.CyclicBarrier(3);
    java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(3);
    List<java.util.concurrent.Future<?>> done = new ArrayList<>();
    for (String w : List.of("a", "b")) {
      UsageWriter writer = UsageWriter.open(clone, "edge-1", clock, limits);
      done.add(pool.submit(() -> {
        start.await();
        for (int c = 0; c < calls; c++) {
          List<Usage> usages = new ArrayList<>();
          for (int i = 0; i < 5; i++) {
            usages.add(new Usage("u1", 1, AT, w + "-" + c + "-" + i, null, null));
          }
          writer.record(usages);
        }
        return null;
      }));
    }
    UsageWriter pusher = UsageWriter.open(clone, "edge-1", clock, limits);
    done.add(pool.submit(() -> {
      start.await();
      for (int p = 0; p < 5; p++) {
        pusher.push(Optional.empty(), FAST);
      }
      return null;
    }));
    for (var f : done) {
      f.get(120, java.util.concurrent.TimeUnit.SECONDS);
    }
    pool.shutdown();
    pusher.push(Optional.empty(), FAST);

    List<String> keys = new ArrayList<>();
    keysByFile(clone, limits).values().forEach(keys::addAll);
    assertThat(keys).hasSize(2 * calls * 5).doesNotHaveDuplicates();
    assertThat(keysByFile(clone, limits)).hasSize(6).allSatisfy((file, inFile) -> assertThat(inFile).hasSize(50));
    try (SqliteLedger ledger = SqliteLedger.open(tmp.resolve("meterd.db"), clock)) {
      RunSummary s = aggregate(ledger, limits);
      assertThat(s.halted()).isEmpty();
      assertThat(s.recordsConsumed()).isEqualTo(2 * calls * 5);
    }
  }
}
