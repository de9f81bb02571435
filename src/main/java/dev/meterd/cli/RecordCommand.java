package dev.meterd.cli;

import dev.meterd.edge.Usage;
import dev.meterd.edge.UsageWriter;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

@Command(name = "record", mixinStandardHelpOptions = true,
    description = {"Appends usage records to the node's hour file (UTC) in a clone of the usage repository, "
        + "creating the file; `push` commits and pushes them.",
        "One record from the options, or, without --user, one JSON object a line on stdin with the fields "
            + "user_sid, cost_cents, and optionally idempotency_key, occurred_at, resource, quantity.",
        "Without a key, each record gets a new time-ordered one (UUID version 7).",
        "A file never passes the limits (give the reader's): a record that does not fit goes on in the hour's "
            + "next file, usage_YYYY-MM-DD-HH.N.toml.",
        "A given key already in the node's files with the same user_sid and cost_cents is not appended again "
            + "(listed in already_recorded); with another, the call is refused.",
        "A call is all or nothing across every file it touches: when it fails, or is killed (the next record or "
            + "push then puts its files back), none of its records is written.",
        "A caller that retries should give keys (--key, idempotency_key): a call killed after its write but "
            + "before its answer is written, and only keys let the retry find its records.",
        "Prints {\"node\",\"records\" (appended),\"keys\" (one per record),\"files\" (appended to),"
            + "\"already_recorded\":[{\"idempotency_key\",\"file\"}]}. Exit: 0 written; 2 a record or option is "
            + "invalid, a record does not fit in a file of its own, or a key is already written with other content "
            + "(nothing written); 3 the clone could not be read or written (nothing written: run it again)."})
final class RecordCommand implements Callable<Integer> {

  private static final Set<String> FIELDS = Set.of("user_sid", "cost_cents", "idempotency_key", "occurred_at",
      "resource", "quantity");

  @ParentCommand
  Main main;

  @Mixin
  NodeCloneOptions clone;

  @Mixin
  FileLimitOptions limits;

  @Option(names = "--user", paramLabel = "USER", description = "The wallet to debit (user_sid)")
  String user;

  @Option(names = "--cost-cents", paramLabel = "N", description = "What it cost, in minor units")
  Long costCents;

  @Option(names = "--key", paramLabel = "KEY", description = "The idempotency key (default: a new UUIDv7)")
  String key;

  @Option(names = "--resource", paramLabel = "R", description = "What was used, e.g. llm.tokens")
  String resource;

  @Option(names = "--quantity", paramLabel = "Q", description = "How much of it")
  Long quantity;

  @Option(names = "--at", paramLabel = "TIME", description = "When, RFC 3339 with an offset (default: now)")
  String at;

  @Override
  public Integer call() throws Exception {
    Clock clock = Clock.systemUTC();
    UsageWriter writer = UsageWriter.open(clone.repo, clone.node, clock, limits.limits());
    List<Usage> usages;
    if (user != null) {
      if (costCents == null) {
        throw new UsageException("record needs --cost-cents with --user");
      }
      usages = List.of(new Usage(user, costCents, at == null ? now(clock) : instant(at, "--at"), key, resource,
          quantity));
    } else {
      if (costCents != null || key != null || resource != null || quantity != null || at != null) {
        throw new UsageException("--cost-cents, --key, --resource, --quantity and --at go with --user; "
            + "without --user, records come as JSON lines on stdin");
      }
      usages = fromStdin(clock);
    }
    main.out.println(summary(writer.record(usages)).encode());
    return ExitCodes.OK;
  }

  private JsonObject summary(List<UsageWriter.Written> written) {
    JsonArray keys = new JsonArray();
    Set<String> files = new LinkedHashSet<>();
    JsonArray already = new JsonArray();
    for (UsageWriter.Written w : written) {
      keys.add(w.idempotencyKey());
      if (w.outcome() == UsageWriter.Outcome.APPENDED) {
        files.add(w.file());
      } else {
        already.add(new JsonObject().put("idempotency_key", w.idempotencyKey()).put("file", w.file()));
      }
    }
    return new JsonObject().put("node", clone.node).put("records", written.size() - already.size())
        .put("keys", keys).put("files", new JsonArray(List.copyOf(files))).put("already_recorded", already);
  }

  /** Now, to the millisecond: enough for an hour file, and short to read. */
  private static Instant now(Clock clock) {
    return clock.instant().truncatedTo(java.time.temporal.ChronoUnit.MILLIS);
  }

  private static Instant instant(String text, String where) {
    try {
      return OffsetDateTime.parse(text).toInstant();
    } catch (DateTimeParseException e) {
      throw new UsageException(where + " \"" + text + "\" must be an RFC 3339 date-time with an offset, "
          + "e.g. 2026-11-21T10:00:03Z");
    }
  }

  /** Every line read and checked before anything is written. */
  private List<Usage> fromStdin(Clock clock) throws java.io.IOException {
    List<Usage> usages = new ArrayList<>();
    BufferedReader reader = new BufferedReader(new InputStreamReader(main.in, StandardCharsets.UTF_8));
    int lineNumber = 0;
    for (String line; (line = reader.readLine()) != null; ) {
      lineNumber++;
      if (line.isBlank()) {
        continue;
      }
      String where = "stdin line " + lineNumber;
      JsonObject o;
      try {
        o = new JsonObject(line);
      } catch (DecodeException | ClassCastException e) {
        throw new UsageException(where + ": not a JSON object");
      }
      for (String field : o.fieldNames()) {
        if (!FIELDS.contains(field)) {
          throw new UsageException(where + ": unknown field \"" + field + "\"; known: "
              + new java.util.TreeSet<>(FIELDS));
        }
      }
      String at = text(o, "occurred_at", where);
      usages.add(new Usage(required(text(o, "user_sid", where), "user_sid", where),
          required(integer(o, "cost_cents", where), "cost_cents", where),
          at == null ? now(clock) : instant(at, where + ": occurred_at"),
          text(o, "idempotency_key", where), text(o, "resource", where), integer(o, "quantity", where)));
    }
    if (usages.isEmpty()) {
      throw new UsageException("no records: give --user and --cost-cents, or JSON lines on stdin");
    }
    return usages;
  }

  private static <T> T required(T value, String field, String where) {
    if (value == null) {
      throw new UsageException(where + ": " + field + " is missing");
    }
    return value;
  }

  private static String text(JsonObject o, String field, String where) {
    Object v = o.getValue(field);
    if (v == null || v instanceof String) {
      return (String) v;
    }
    throw new UsageException(where + ": " + field + " must be a string");
  }

  private static Long integer(JsonObject o, String field, String where) {
    Object v = o.getValue(field);
    if (v == null) {
      return null;
    }
    if (v instanceof Integer || v instanceof Long) {
      return ((Number) v).longValue();
    }
    throw new UsageException(where + ": " + field + " must be an integer, got " + v);
  }
}
