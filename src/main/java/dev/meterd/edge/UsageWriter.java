package dev.meterd.edge;

import dev.meterd.batch.BatchContentException;
import dev.meterd.batch.BatchParser;
import dev.meterd.batch.WireFormat;
import dev.meterd.source.git.GitBatchSource;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.locks.ReentrantLock;
import org.eclipse.jgit.api.Git;
import org.eclipse.jgit.api.RebaseCommand;
import org.eclipse.jgit.api.RebaseResult;
import org.eclipse.jgit.api.Status;
import org.eclipse.jgit.api.errors.GitAPIException;
import org.eclipse.jgit.api.errors.TransportException;
import org.eclipse.jgit.lib.Constants;
import org.eclipse.jgit.lib.PersonIdent;
import org.eclipse.jgit.lib.Repository;
import org.eclipse.jgit.revwalk.RevCommit;
import org.eclipse.jgit.transport.PushResult;
import org.eclipse.jgit.transport.RefSpec;
import org.eclipse.jgit.transport.RemoteRefUpdate;
import org.eclipse.jgit.transport.UsernamePasswordCredentialsProvider;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An edge node's writer: appends usage records to the node's hour files in its clone of the usage
 * repository, and commits and pushes them. The {@code record} and {@code push} commands use it;
 * JVM edge applications can use it directly.
 *
 * <ul>
 *   <li>Every record is checked by the reader's own parser before anything is written, so what
 *       this writer writes, meterd accepts. A list of records is checked whole before any of it
 *       is written.
 *   <li>A record is on disk (fsync) when {@link #record} returns. One call is all or nothing
 *       across every file it touches (an hour's next file, other hours): each file is written
 *       whole beside it and synced, and only when all are does the call rename them into place.
 *       A failure (a full disk) changes no file; a writer killed between two renames leaves a
 *       journal in {@code .git}, and the node's next {@code record} or {@code push} puts those
 *       files back first. So the records of a call that did not return are never written, and a
 *       caller that sends them again is charged once. See {@link AppendTransaction} for why undo
 *       rather than finish, and for the one moment no writer can close (killed after the write,
 *       before the answer), which is why callers that retry give keys. A file that ends in a
 *       partial block all the same (copied from a writer of another kind, or torn by a disk that
 *       lied about a sync) has that block cut off before the next write and before a push.
 *   <li>No file passes the limits the writer is given (the reader's): a record that does not fit
 *       goes on in the hour's next file, {@code usage_<hour>.<N>.toml}. A given key already in
 *       the node's files is not written again, and is refused with another user or cost, as the
 *       reader would halt the node on it.
 *   <li>Writers of one clone, threads or processes, take turns through a lock file in
 *       {@code .git}.
 *   <li>{@link #push} commits the node's folder only and pushes; when the remote has moved on, it
 *       fetches, rebases the node's commits (which touch only its folder, so they never
 *       conflict) and tries again, with backoff, a bounded number of times. A remote silent past
 *       the transport timeout ends the push. A crash at any point leaves the records in the clone
 *       for the next push; none is written twice.
 * </ul>
 */
public final class UsageWriter {

  private static final Logger log = LoggerFactory.getLogger(UsageWriter.class);
  private static final Map<Path, ReentrantLock> LOCAL_LOCKS = new ConcurrentHashMap<>();
  private static final WriteFaults FAULTS = WriteFaults.FROM_SYSTEM_PROPERTY;
  /** What a record's block is parsed after, alone, to check it. */
  private static final byte[] SCHEMA_LINE = "schema = 1\n".getBytes(StandardCharsets.UTF_8);

  /**
   * How a push retries, and how long it waits for the remote.
   *
   * @param maxAttempts pushes tried before giving up
   * @param backoffBase the wait after the first rejection; it doubles, jittered
   * @param backoffMax the longest wait
   * @param transportTimeout how long connecting, and each read from the remote, may take (whole
   *     seconds, at least 1); a remote that stays silent that long ends the push at once, since
   *     another try would most likely wait as long again
   */
  public record PushPolicy(int maxAttempts, Duration backoffBase, Duration backoffMax, Duration transportTimeout) {
    /** A constant so that the command line's default can name it. */
    public static final long DEFAULT_TRANSPORT_TIMEOUT_SECONDS = 60;
    public static final Duration DEFAULT_TRANSPORT_TIMEOUT = Duration.ofSeconds(DEFAULT_TRANSPORT_TIMEOUT_SECONDS);
    public static final PushPolicy DEFAULT = new PushPolicy(10, Duration.ofMillis(200), Duration.ofSeconds(10));

    public PushPolicy {
      if (maxAttempts < 1) {
        throw new IllegalArgumentException("maxAttempts must be >= 1, got " + maxAttempts);
      }
      if (transportTimeout.getSeconds() < 1 || transportTimeout.getSeconds() > Integer.MAX_VALUE) {
        throw new IllegalArgumentException("transportTimeout must be 1 s or more, got " + transportTimeout);
      }
    }

    /** A policy with the default transport timeout. */
    public PushPolicy(int maxAttempts, Duration backoffBase, Duration backoffMax) {
      this(maxAttempts, backoffBase, backoffMax, DEFAULT_TRANSPORT_TIMEOUT);
    }
  }

  /** What {@link #record} did with one record. */
  public enum Outcome {
    /** Appended to {@code file}. */
    APPENDED,
    /**
     * Not appended: its key is already in {@code file} with the same user and cost (what the
     * reader compares), or came earlier in the same call.
     */
    ALREADY_RECORDED
  }

  /** A record as written: its key, its file's repository path, and whether this call appended it. */
  public record Written(String idempotencyKey, String file, Outcome outcome) {}

  /**
   * What a push did.
   *
   * @param committed files committed by this push (0 when nothing was pending)
   * @param head the branch's commit now on the remote
   * @param attempts pushes it took
   */
  public record Pushed(String node, String branch, int committed, String head, int attempts) {}

  private final Path clone;
  private final String node;
  private final Clock clock;
  private final Keys keys;
  private final Path lockFile;
  private final BatchParser parser;
  /**
   * The parser that reads back the node's files in another layout for the keys they hold: their
   * record count may be past the limit (a lower limit than when they were written), which is no
   * reason to refuse a write.
   */
  private final BatchParser counting;
  private final int headerBytes;

  private UsageWriter(Path clone, String node, Clock clock, BatchParser.Limits limits) {
    this.clone = clone;
    this.node = node;
    this.clock = clock;
    this.keys = new Keys(clock);
    this.lockFile = clone.resolve(".git").resolve("meterd-writer.lock");
    this.parser = new BatchParser(limits);
    this.counting = new BatchParser(new BatchParser.Limits(limits.maxFileBytes(), Integer.MAX_VALUE));
    this.headerBytes = utf8(BatchText.header(node)).length;
  }

  /** A writer for the reader's default limits; see {@link #open(Path, String, Clock, BatchParser.Limits)}. */
  public static UsageWriter open(Path clone, String node, Clock clock) throws EdgeException {
    return open(clone, node, clock, BatchParser.Limits.DEFAULT);
  }

  /**
   * A writer for {@code node}'s folder in the clone at {@code clone}, whose files stay within
   * {@code limits}: give it the limits the reader is configured with.
   *
   * @throws InvalidUsageException the node's name breaks the wire format's rule
   * @throws EdgeException the folder is not a clone
   */
  public static UsageWriter open(Path clone, String node, Clock clock, BatchParser.Limits limits)
      throws EdgeException {
    if (!WireFormat.isNodeName(node)) {
      throw new InvalidUsageException("node name \"" + node + "\" must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$");
    }
    if (!Files.isDirectory(clone.resolve(".git"))) {
      throw new EdgeException(clone + " is not a clone of the usage repository (it has no .git folder); "
          + "clone it first: git clone URL " + clone);
    }
    // The real path, so that writers that reach one clone through a link share one lock in this JVM.
    Path real;
    try {
      real = clone.toRealPath();
    } catch (IOException e) {
      throw new EdgeException("cannot resolve the clone " + clone + ": " + e.getMessage() + "; check the path", e);
    }
    return new UsageWriter(real, node, clock, limits);
  }

  public String node() {
    return node;
  }

  /** Appends one record; see {@link #record(List)}. */
  public Written record(Usage usage) throws EdgeException {
    return record(List.of(usage)).get(0);
  }

  /**
   * Appends records to their hour files, in order, creating files as needed, and syncs them to
   * disk: all of them, or, when this throws, none. Nothing is written unless every record is
   * valid. A file is never taken past the limits:
   * a record that does not fit goes on in the hour's next file ({@code usage_<hour>.<N>.toml}).
   * A record whose key is already in the node's files (or earlier in {@code usages}) with the same
   * user and cost is not appended again ({@link Outcome#ALREADY_RECORDED}); with another user or
   * cost, the call is refused. Keys made here are new, so only given keys are looked up.
   *
   * @return one per record, in order
   * @throws InvalidUsageException a record breaks the wire format, does not fit in a file of its
   *     own, or reuses a key with other content: which one, and why
   * @throws EdgeException the files could not be read or written; no record of the call was
   *     written (unless the message says that even putting the files back failed)
   */
  public List<Written> record(List<Usage> usages) throws EdgeException {
    List<Pending> blocks = new ArrayList<>(usages.size());
    for (int i = 0; i < usages.size(); i++) {
      blocks.add(pending(usages.get(i), usages.size() == 1 ? "the record" : "record " + (i + 1)));
    }
    return locked(() -> {
      try (AppendTransaction files = AppendTransaction.begin(clone, node, FAULTS)) {
        List<Written> written = write(blocks, NodeFolder.list(clone, node), files);
        files.commit();
        return written;
      } catch (IOException e) {
        throw new EdgeException("cannot write the files of nodes/" + node + " in " + clone + ": " + e.getMessage()
            + "; no record of this call was written: run it again", e);
      }
    });
  }

  /**
   * One record checked and as its block's text.
   *
   * @param which how messages name it
   * @param given whether the caller chose the key (a key made here cannot be in a file yet)
   */
  private record Pending(String which, String key, String quotedKey, boolean given, Usage usage, String hour,
      byte[] text) {}

  private Pending pending(Usage u, String which) {
    checkWellFormed(which, "idempotency_key", u.key());
    checkWellFormed(which, "user_sid", u.userSid());
    checkWellFormed(which, "resource", u.resource());
    String key = u.key() != null ? u.key() : keys.next();
    byte[] text = utf8(BatchText.record(new StringBuilder(), key, u.userSid(), u.costCents(), u.occurredAt(),
        u.resource(), u.quantity()).toString());
    long alone = (long) headerBytes + text.length;
    if (alone > parser.limits().maxFileBytes()) {
      throw new InvalidUsageException(which + ": it takes " + alone + " bytes in a file of its own, over the "
          + "file size limit of " + parser.limits().maxFileBytes() + " bytes; make it smaller or raise the limit "
          + "(record --max-file-bytes, as the reader's max_file_bytes)");
    }
    byte[] alike = new byte[text.length + SCHEMA_LINE.length];
    System.arraycopy(SCHEMA_LINE, 0, alike, 0, SCHEMA_LINE.length);
    System.arraycopy(text, 0, alike, SCHEMA_LINE.length, text.length);
    try {
      parser.parse("record", node, alike);
    } catch (BatchContentException e) {
      throw new InvalidUsageException(which + ": " + e.error());
    }
    return new Pending(which, key, BatchText.quoted(key), u.key() != null, u, BatchText.hour(u.occurredAt()), text);
  }

  /**
   * Refuses text with a lone UTF-16 surrogate: it has no UTF-8 form, and encoding would turn it
   * into '?', so that two keys would become one and one user another.
   */
  private static void checkWellFormed(String which, String field, String text) {
    if (text == null) {
      return;
    }
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (Character.isHighSurrogate(c) && i + 1 < text.length() && Character.isLowSurrogate(text.charAt(i + 1))) {
        i++;
      } else if (Character.isSurrogate(c)) {
        throw new InvalidUsageException(which + ": " + field + " holds a lone UTF-16 surrogate (at character "
            + (i + 1) + "), which has no UTF-8 form; send well-formed Unicode text");
      }
    }
  }

  /** Under the writer lock: what each record is, then the new blocks hour by hour, staged in {@code files}. */
  private List<Written> write(List<Pending> blocks, NodeFolder folder, AppendTransaction files)
      throws EdgeException, IOException {
    Set<String> given = new HashSet<>();
    for (Pending b : blocks) {
      if (b.given()) {
        given.add(b.quotedKey());
      }
    }
    Map<String, NodeFolder.Recorded> inFiles = folder.recorded(given, this::repaired, counting);
    Map<String, Integer> firstInCall = new HashMap<>();
    Map<String, List<Integer>> newByHour = new TreeMap<>();
    Integer[] sameAs = new Integer[blocks.size()];
    Written[] written = new Written[blocks.size()];
    for (int i = 0; i < blocks.size(); i++) {
      Pending b = blocks.get(i);
      NodeFolder.Recorded recorded = b.given() ? inFiles.get(b.quotedKey()) : null;
      Integer earlier = b.given() ? firstInCall.putIfAbsent(b.quotedKey(), i) : null;
      if (recorded != null) {
        checkSame(b, "is already in " + recorded.file() + " with", recorded.quotedUser(), recorded.costCents());
        written[i] = new Written(b.key(), recorded.file(), Outcome.ALREADY_RECORDED);
      } else if (earlier != null) {
        Usage first = blocks.get(earlier).usage();
        checkSame(b, "is " + blocks.get(earlier).which() + "'s, with", BatchText.quoted(first.userSid()),
            first.costCents());
        sameAs[i] = earlier;
      } else {
        newByHour.computeIfAbsent(b.hour(), h -> new ArrayList<>()).add(i);
      }
    }
    for (Map.Entry<String, List<Integer>> hour : newByHour.entrySet()) {
      appendToHour(hour.getKey(), hour.getValue(), blocks, folder, written, files);
    }
    for (int i = 0; i < blocks.size(); i++) {
      if (sameAs[i] != null) {
        written[i] = new Written(blocks.get(i).key(), written[sameAs[i]].file(), Outcome.ALREADY_RECORDED);
      }
    }
    return List.of(written);
  }

  /** Refuses a record whose key names a record with another user or cost, the reader's conflict. */
  private static void checkSame(Pending b, String where, String quotedUser, long costCents) {
    if (!quotedUser.equals(BatchText.quoted(b.usage().userSid())) || costCents != b.usage().costCents()) {
      throw new InvalidUsageException(b.which() + ": idempotency_key " + b.quotedKey() + " " + where + " user_sid "
          + quotedUser + " and cost_cents " + costCents + "; a key names one record forever: send that record "
          + "again as it was, or use a new key");
    }
  }

  /**
   * Appends an hour's new blocks, in order, to the hour's last file while it takes them, then
   * to the files after it, each staged whole once in {@code files}.
   */
  private void appendToHour(String hour, List<Integer> indexes, List<Pending> blocks, NodeFolder folder,
      Written[] written, AppendTransaction files) throws EdgeException, IOException {
    long part = Math.max(0, folder.lastPart(hour));
    HourFile file = hourFile(BatchText.path(node, hour, part));
    for (int i : indexes) {
      Pending b = blocks.get(i);
      if (!file.takes(b.text().length)) {
        file.stageIn(files);
        if (part == Long.MAX_VALUE) {
          throw new EdgeException(file.relative + " is full and no file can follow it; move it");
        }
        part++;
        file = hourFile(BatchText.path(node, hour, part));
      }
      file.add(b.text());
      written[i] = new Written(b.key(), file.relative, Outcome.APPENDED);
    }
    file.stageIn(files);
  }

  /**
   * An hour's file as it is now (a partial last block cut off), with the number of its records;
   * a file in another layout counts as full.
   */
  private HourFile hourFile(String relative) throws EdgeException, IOException {
    String kept = repaired(relative);
    if (kept == null) {
      return new HourFile(relative, new byte[0], 0);
    }
    byte[] bytes = utf8(kept);
    if (bytes.length > parser.limits().maxFileBytes()) {
      return new HourFile(relative, bytes, Integer.MAX_VALUE);
    }
    int records = BatchText.forEachBlock(kept, node, b -> {});
    // A file in another layout takes no block of this one: after an inline array of records, say,
    // a [[records]] block would not be TOML. It counts as full, so the hour goes on in its next file.
    return new HourFile(relative, bytes, records < 0 ? Integer.MAX_VALUE : records);
  }

  /**
   * A file of an hour as records go into it: its bytes on disk, and what it takes on (the header
   * first when it has none).
   */
  private final class HourFile {
    private final String relative;
    private final byte[] onDisk;
    private final ByteArrayOutputStream added = new ByteArrayOutputStream();
    private int records;
    private int blocksAdded;

    HourFile(String relative, byte[] onDisk, int records) {
      this.relative = relative;
      this.onDisk = onDisk;
      this.records = records;
      if (onDisk.length == 0) {
        added.writeBytes(utf8(BatchText.header(node)));
      }
    }

    boolean takes(int blockBytes) {
      return records < parser.limits().maxRecordsPerFile()
          && (long) onDisk.length + added.size() + blockBytes <= parser.limits().maxFileBytes();
    }

    void add(byte[] block) {
      added.writeBytes(block);
      records++;
      blocksAdded++;
    }

    void stageIn(AppendTransaction files) throws IOException {
      if (blocksAdded > 0) {
        files.stage(relative, onDisk, added.toByteArray());
      }
    }
  }

  private static byte[] utf8(String text) {
    return text.getBytes(StandardCharsets.UTF_8);
  }

  /**
   * A file's text, made to end with a complete record again: a partial last block (from a writer
   * of another kind, or a disk that lied about a sync) is cut off, when, and only when, the file is
   * not TOML and is without that block. Null when the file does not
   * exist or held no more than part of its header, so that it needs one. A file that ends
   * complete is returned unread by the parser; {@link #push} parses every pending file.
   */
  private String repaired(String relative) throws EdgeException, IOException {
    Path file = clone.resolve(relative);
    if (!Files.exists(file)) {
      return null;
    }
    byte[] bytes = Files.readAllBytes(file);
    String text = new String(bytes, StandardCharsets.UTF_8);
    if (endsComplete(text)) {
      return text;
    }
    // Syntax alone decides: a complete file over a limit, or in another key order, is never cut.
    String syntaxError = syntaxError(relative, bytes);
    if (syntaxError == null) {
      return text;
    }
    int cut = text.lastIndexOf(BatchText.BLOCK_START);
    String kept = cut >= 0 ? text.substring(0, cut) : "";
    if (cut < 0 && !BatchText.header(node).startsWith(text)) {
      throw new EdgeException(relative + " is not a valid batch, and not a partial one this writer can repair: "
          + syntaxError + "; fix or move the file");
    }
    byte[] keptBytes = kept.getBytes(StandardCharsets.UTF_8);
    String error = kept.isEmpty() ? null : syntaxError(relative, keptBytes);
    if (error != null) {
      throw new EdgeException(relative + " is not a valid batch before its last record either: " + error
          + "; fix or move the file");
    }
    log.warn("{}: cut off a partial last record ({} bytes) that a writer killed mid-write left; it was never "
        + "acknowledged", relative, bytes.length - keptBytes.length);
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
      ch.truncate(keptBytes.length);
      ch.force(true);
    }
    return kept.isEmpty() ? null : kept;
  }

  /** Whether the text ends as every write of this writer ends: the header or a block's last line. */
  private boolean endsComplete(String text) {
    return BatchText.endsWithLastKey(text) || text.equals(BatchText.header(node));
  }

  /** The TOML syntax error of a file's bytes, or null when they are TOML, whatever their content. */
  private static String syntaxError(String relative, byte[] bytes) {
    try {
      BatchParser.checkSyntax(relative, bytes);
      return null;
    } catch (BatchContentException e) {
      return readerError(e);
    }
  }

  /** The reader's error for a file's bytes, or null when meterd would accept it. */
  private String valid(String relative, byte[] bytes) {
    try {
      parser.parse(relative, node, bytes);
      return null;
    } catch (BatchContentException e) {
      return readerError(e);
    }
  }

  /** The reader's error, with its line where known, for a message that names the file itself. */
  static String readerError(BatchContentException e) {
    return (e.line() > 0 ? "line " + e.line() + ": " : "") + e.error();
  }

  // ---- push

  /**
   * Commits the node's pending files (its folder only) and pushes the clone's branch to
   * {@code origin}, rebasing onto what others pushed meanwhile. A {@link #record} call that was
   * killed before it finished is undone first, so none of its records is committed.
   *
   * @param token for an https remote, sent as the password; never logged
   * @throws EdgeException a pending file is not a valid batch (nothing committed), or the push
   *     failed every try (the commit stays for the next push)
   */
  public Pushed push(Optional<String> token, PushPolicy policy) throws EdgeException {
    return locked(() -> {
      AppendTransaction.undoInterrupted(clone, node);
      try (Git git = Git.open(clone.toFile())) {
        recover(git);
        Origin origin = new Origin(git, token, policy.transportTimeout());
        int committed = commitPending(git);
        Duration wait = policy.backoffBase();
        for (int attempt = 1; ; attempt++) {
          String why = origin.push();
          if (why == null) {
            return new Pushed(node, origin.branch, committed,
                git.getRepository().resolve(Constants.HEAD).name(), attempt);
          }
          if (attempt >= policy.maxAttempts()) {
            throw new EdgeException("cannot push nodes/" + node + " to origin/" + origin.branch + " after "
                + attempt + " tries: " + why + "; the commits stay in the clone, and the next push sends them");
          }
          log.info("push of nodes/{} to origin/{} not taken ({}); fetching, rebasing, try {} of {}", node,
              origin.branch, why, attempt + 1, policy.maxAttempts());
          sleep(wait);
          Duration doubled = wait.multipliedBy(2);
          wait = doubled.compareTo(policy.backoffMax()) > 0 ? policy.backoffMax() : doubled;
          rebaseOntoRemote(git, origin);
        }
      } catch (IOException | GitAPIException e) {
        // Only the redacted message: the cause's trace could carry the remote's URL with a secret.
        throw new EdgeException("cannot push nodes/" + node + " from " + clone + ": "
            + GitBatchSource.redact(e.getMessage(), token), null);
      }
    });
  }

  /** The clone's {@code origin} as a push talks to it: credentials, the transport timeout, its URL for messages. */
  private final class Origin {
    private final Git git;
    private final String branch;
    private final Optional<String> token;
    private final UsernamePasswordCredentialsProvider credentials;
    private final int timeoutSeconds;

    Origin(Git git, Optional<String> token, Duration timeout) throws IOException {
      this.git = git;
      this.branch = git.getRepository().getBranch();
      this.token = token;
      this.credentials = token.map(t -> new UsernamePasswordCredentialsProvider("meterd", t)).orElse(null);
      this.timeoutSeconds = (int) timeout.getSeconds();
    }

    /**
     * Pushes the branch once: null when the remote has it now, else why not (a rejection or a
     * transport failure, worth another try).
     *
     * @throws EdgeException the remote refused for good, or stayed silent past the timeout
     */
    String push() throws GitAPIException, EdgeException {
      try {
        Iterable<PushResult> results = git.push().setRemote("origin").setCredentialsProvider(credentials)
            .setTimeout(timeoutSeconds)
            .setRefSpecs(new RefSpec(Constants.R_HEADS + branch + ":" + Constants.R_HEADS + branch)).call();
        RemoteRefUpdate update = results.iterator().next().getRemoteUpdate(Constants.R_HEADS + branch);
        String status = update.getStatus() + (update.getMessage() == null ? "" : " (" + update.getMessage() + ")");
        return switch (update.getStatus()) {
          case OK, UP_TO_DATE -> null;
          case REJECTED_NONFASTFORWARD, REJECTED_REMOTE_CHANGED, REJECTED_OTHER_REASON -> status;
          default -> throw new EdgeException("the remote refused the push of " + branch + ": " + status);
        };
      } catch (TransportException e) {
        return retryable(e);
      }
    }

    /** Fetches the branch into {@code tracking}; false when the fetch failed and the push is simply tried again. */
    boolean fetch(String tracking) throws GitAPIException, EdgeException {
      try {
        git.fetch().setRemote("origin").setCredentialsProvider(credentials).setTimeout(timeoutSeconds)
            .setRefSpecs(new RefSpec("+" + Constants.R_HEADS + branch + ":" + tracking)).call();
        return true;
      } catch (TransportException e) {
        log.info("fetch of origin/{} failed ({}); trying the push again", branch, retryable(e));
        return false;
      }
    }

    /**
     * A transport failure's message, redacted, when another try may do better.
     *
     * @throws EdgeException the remote stayed silent past the timeout: that ends the push
     */
    private String retryable(TransportException e) throws EdgeException {
      for (Throwable c = e; c != null; c = c.getCause()) {
        if (c instanceof InterruptedIOException) {
          String url = git.getRepository().getConfig().getString("remote", "origin", "url");
          throw new EdgeException("cannot push nodes/" + node + " to " + GitBatchSource.redact(String.valueOf(url),
              token) + ": it did not answer within " + timeoutSeconds + " s (push --timeout-seconds); the commits "
              + "stay in the clone, and the next push sends them");
        }
      }
      return GitBatchSource.redact(e.getMessage(), token);
    }
  }

  /**
   * Undoes what a push killed midway left: a rebase in progress, a stale index lock. Aborting a
   * rebase resets the work tree to the commit before it; records appended to the node's files
   * since (by a {@code record} between the crash and this push), or files the rebase had not
   * replayed yet, must survive that, so each file ends up with every record block that either
   * side had.
   */
  private void recover(Git git) throws GitAPIException, IOException, EdgeException {
    Repository repo = git.getRepository();
    if (repo.getRepositoryState().isRebasing()) {
      log.warn("{}: a push was interrupted mid-rebase; aborting that rebase, keeping every record", clone);
      Map<Path, String> before = nodeFiles();
      git.rebase().setOperation(RebaseCommand.Operation.ABORT).call();
      for (Map.Entry<Path, String> e : before.entrySet()) {
        Path file = e.getKey();
        String now = Files.exists(file) ? Files.readString(file, StandardCharsets.UTF_8) : "";
        String merged = now.isEmpty() ? e.getValue() : withBlocksOf(now, e.getValue());
        if (!merged.equals(now)) {
          // Each file on its own, as each is complete by itself; now is a prefix of merged.
          try (AppendTransaction files = AppendTransaction.begin(clone, node, FAULTS)) {
            files.stage(clone.relativize(file).toString().replace('\\', '/'), utf8(now),
                utf8(merged.substring(now.length())));
            files.commit();
          }
        }
      }
    }
    // Only meterd writes this clone, and it holds the writer lock: an index lock now is stale.
    Path indexLock = repo.getDirectory().toPath().resolve("index.lock");
    if (Files.deleteIfExists(indexLock)) {
      log.warn("{}: removed a stale index.lock left by an interrupted commit", clone);
    }
  }

  /** The node's files as they are in the work tree. */
  private Map<Path, String> nodeFiles() throws IOException {
    Map<Path, String> files = new TreeMap<>();
    Path folder = clone.resolve(WireFormat.NODES_DIR).resolve(node);
    if (Files.isDirectory(folder)) {
      try (var list = Files.list(folder)) {
        for (Path f : list.filter(Files::isRegularFile).toList()) {
          files.put(f, Files.readString(f, StandardCharsets.UTF_8));
        }
      }
    }
    return files;
  }

  /** {@code text} with each record block of {@code other} that it lacks appended, in order. */
  static String withBlocksOf(String text, String other) {
    StringBuilder merged = new StringBuilder(text);
    String[] parts = other.split(java.util.regex.Pattern.quote(BatchText.BLOCK_START), -1);
    for (int i = 1; i < parts.length; i++) {
      String block = BatchText.BLOCK_START + parts[i];
      if (merged.indexOf(block) < 0) {
        merged.append(block);
      }
    }
    return merged.toString();
  }

  /** Commits the node's changed files, after checking each with the reader's parser. */
  private int commitPending(Git git) throws GitAPIException, EdgeException, IOException {
    String folder = WireFormat.NODES_DIR + "/" + node;
    Status status = git.status().addPath(folder).call();
    TreeSet<String> changed = new TreeSet<>();
    changed.addAll(status.getUntracked());
    changed.addAll(status.getModified());
    changed.addAll(status.getAdded());
    changed.addAll(status.getChanged());
    changed.addAll(status.getMissing());
    changed.addAll(status.getRemoved());
    for (String path : changed) {
      String name = path.substring(path.lastIndexOf('/') + 1);
      Path file = clone.resolve(path);
      String text = WireFormat.isUsageFileName(name) && Files.exists(file) ? repaired(path) : null;
      if (text != null) {
        String error = valid(path, text.getBytes(StandardCharsets.UTF_8));
        if (error != null) {
          throw new EdgeException("not pushed: " + path + " is not a valid batch: " + error);
        }
      }
    }
    if (changed.isEmpty()) {
      return 0;
    }
    git.add().addFilepattern(folder).call();
    git.add().setUpdate(true).addFilepattern(folder).call();
    PersonIdent ident = new PersonIdent("meterd " + node, node + "@meterd.invalid", clock.instant(),
        java.time.ZoneOffset.UTC);
    RevCommit commit = git.commit().setOnly(folder).setAuthor(ident).setCommitter(ident)
        .setMessage(node + ": usage, " + changed.size() + (changed.size() == 1 ? " file" : " files")).call();
    log.debug("committed {} as {}", folder, commit.name());
    return changed.size();
  }

  private void rebaseOntoRemote(Git git, Origin origin) throws GitAPIException, IOException, EdgeException {
    String branch = origin.branch;
    String tracking = Constants.R_REMOTES + "origin/" + branch;
    if (!origin.fetch(tracking)) {
      return;
    }
    if (git.getRepository().exactRef(tracking) == null) {
      return;
    }
    RebaseResult result = git.rebase().setUpstream(tracking).call();
    if (!result.getStatus().isSuccessful()) {
      git.rebase().setOperation(RebaseCommand.Operation.ABORT).call();
      throw new EdgeException("cannot rebase nodes/" + node + "'s commits onto origin/" + branch + ": "
          + result.getStatus() + " (did something else change nodes/" + node + " on the remote?)");
    }
  }

  private static void sleep(Duration base) throws EdgeException {
    long ms = base.toMillis();
    try {
      Thread.sleep(ms / 2 + ThreadLocalRandom.current().nextLong(ms / 2 + 1));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new EdgeException("interrupted while waiting to push again");
    }
  }

  // ---- the writer lock

  /** The writer lock's file, by its real path: the key of the lock writers of this JVM take first. */
  Path lockFile() {
    return lockFile;
  }

  private interface Work<T> {
    T run() throws EdgeException;
  }

  private <T> T locked(Work<T> work) throws EdgeException {
    ReentrantLock local = LOCAL_LOCKS.computeIfAbsent(lockFile, k -> new ReentrantLock());
    local.lock();
    try (FileChannel ch = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        FileLock lock = acquire(ch)) {
      return work.run();
    } catch (IOException e) {
      throw new EdgeException("cannot take the writer lock " + lockFile + ": " + e.getMessage(), e);
    } finally {
      local.unlock();
    }
  }

  /** The lock of the clone's writers, waited for (and said so) while another process holds it. */
  private FileLock acquire(FileChannel ch) throws IOException {
    FileLock lock = ch.tryLock();
    if (lock != null) {
      return lock;
    }
    log.info("{} is held by another writer of this clone; waiting for it", lockFile);
    return ch.lock();
  }
}
