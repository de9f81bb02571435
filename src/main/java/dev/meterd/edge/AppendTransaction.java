package dev.meterd.edge;

import dev.meterd.batch.WireFormat;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The appends of one call to a node's files, applied all or none: each file's new text is staged
 * in {@code .git/meterd-staging/<node>/} and synced, and only once every file is staged are they
 * renamed into place. A failure before that changes no file, and {@link #close} removes what was
 * staged. Used under the writer lock only.
 *
 * <p>Implementation notes.
 *
 * <ul>
 *   <li>Renames of several files are not atomic as a group, so a call of more than one file
 *       first writes a journal, {@code .git/meterd-staging/.journals/<node>}: each file with its
 *       length before the call (-1 when the call creates it) and after. The journal is synced
 *       before the first rename and removed, and that removal synced, after the last; the removal
 *       is the call's commit point. Any failure before it is undone at once: each file the call
 *       renamed is cut back to its old length, each it created is deleted. A process killed
 *       meanwhile leaves the journal, and the node's next {@code record} or {@code push} undoes
 *       it before it reads a file, so a half-written call is never committed or pushed.
 *   <li>Undo rather than finish (roll forward): the caller of an interrupted call never got its
 *       keys. A caller that sends the records again without keys gets new ones, so finishing the
 *       old call would charge them twice; undone, they are charged once. What no scheme of the
 *       writer alone can close is the moment after the commit point and before the caller reads
 *       the answer: the call is written whole and its caller does not know. A caller that retries
 *       must therefore give keys ({@code record --key}, {@code idempotency_key}): a retry then
 *       finds them already recorded.
 *   <li>Cutting back is enough to undo because the writer only appends: a file's new text is its
 *       old bytes followed by new blocks ({@link #stage} checks that the length on disk is the
 *       length of the old bytes it is given). So a file's length tells whether its rename
 *       happened: the new length, it did; the old one, it did not; any other means something
 *       else changed the file, and the undo stops and says so rather than guess.
 *   <li>A call of one file needs no journal: its one rename is atomic.
 *   <li>Order on disk: staged files are synced before the journal; the journal and its folder
 *       before the first rename; the node's folder after the last rename, before the journal is
 *       removed; the removal before the call returns. A power cut at any point thus finds the
 *       journal whenever a rename might have reached the disk.
 * </ul>
 */
final class AppendTransaction implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(AppendTransaction.class);
  private static final String JOURNAL_HEADER = "# meterd: an unfinished record call: bytes before, bytes after, file";

  /**
   * A file of the call.
   *
   * @param before its length before the call, -1 when the call creates it
   * @param after its length once the call is written
   * @param number its number among the files the process staged, for {@link WriteFaults}
   */
  private record Staged(String relative, Path next, long before, long after, int number) {}

  /** The folder of the nodes' journals in {@code .git/meterd-staging}. */
  static final String JOURNALS = ".journals";

  private final Path clone;
  private final String node;
  private final WriteFaults faults;
  private final Path staging;
  private final Path journal;
  private final List<Staged> staged = new ArrayList<>();

  private AppendTransaction(Path clone, String node, WriteFaults faults) {
    this.clone = clone;
    this.node = node;
    this.faults = faults;
    Path root = clone.resolve(".git").resolve("meterd-staging");
    this.staging = root.resolve(node);
    // A folder of their own, named as no node can be (a node name starts with a letter or digit),
    // so that no node's journal is another node's staging folder.
    this.journal = root.resolve(JOURNALS).resolve(node);
  }

  /**
   * Starts a call's appends, once a call of the node that was interrupted is undone and what it
   * left staged is removed.
   *
   * @throws EdgeException an interrupted call cannot be undone: which file, and what to do
   */
  static AppendTransaction begin(Path clone, String node, WriteFaults faults) throws EdgeException {
    AppendTransaction tx = new AppendTransaction(clone, node, faults);
    tx.cleanUp();
    return tx;
  }

  /**
   * Undoes a call of the node that a killed process left unfinished, and removes what it left
   * staged: before anything reads the node's files.
   *
   * @throws EdgeException the call cannot be undone: which file, and what to do
   */
  static void undoInterrupted(Path clone, String node) throws EdgeException {
    new AppendTransaction(clone, node, WriteFaults.NONE).cleanUp();
  }

  private void cleanUp() throws EdgeException {
    try {
      undoJournaled();
      removeLeftovers();
    } catch (IOException | EdgeException e) {
      throw cannotUndo(e.getMessage());
    }
  }

  /**
   * Stages {@code relative}'s new text, {@code old} then {@code added}, and syncs it. This copies
   * the file on every call, so a busy writer should hand over its records in batches.
   *
   * @param old the file's bytes as they are on disk, empty when it does not exist
   */
  void stage(String relative, byte[] old, byte[] added) throws IOException {
    Path target = clone.resolve(relative);
    long before = Files.exists(target) ? Files.size(target) : -1;
    if (Math.max(before, 0) != old.length) {
      throw new IllegalStateException(relative + " has " + before + " bytes on disk, not the " + old.length
          + " it was read with");
    }
    if (staged.stream().anyMatch(s -> s.relative().equals(relative))) {
      throw new IllegalStateException(relative + " was staged twice in one call");
    }
    createSynced(staging);
    Path next = staging.resolve(target.getFileName().toString());
    int number = faults.fileStarted();
    // Listed before it is written, so that a failure midway leaves it for close() to remove.
    staged.add(new Staged(relative, next, before, (long) old.length + added.length, number));
    try (FileChannel ch = FileChannel.open(next, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
        StandardOpenOption.TRUNCATE_EXISTING)) {
      writeFully(ch, ByteBuffer.wrap(old));
      faults.reached(WriteFaults.Point.WRITE_FAILS, number);
      if (faults.at(WriteFaults.Point.MID_RECORD_WRITE, number)) {
        writeFully(ch, ByteBuffer.wrap(added, 0, added.length / 2));
        ch.force(true);
        faults.reached(WriteFaults.Point.MID_RECORD_WRITE, number);
      }
      writeFully(ch, ByteBuffer.wrap(added));
      ch.force(true);
    }
  }

  /**
   * Renames every staged file into place: when this returns, every file has its new text on disk;
   * when it throws, none has (or, if even the undo failed, the message says what remains).
   *
   * @throws IOException a file could not be written; every rename was undone
   * @throws EdgeException the undo failed too: what is left, and what to do
   */
  void commit() throws IOException, EdgeException {
    if (staged.isEmpty()) {
      return;
    }
    boolean journaled = staged.size() > 1;
    try {
      if (journaled) {
        writeJournal();
      }
      for (Staged s : staged) {
        rename(s);
      }
      sync(clone.resolve(staged.get(0).relative()).getParent());
      if (journaled) {
        removeJournal();
      }
    } catch (IOException | EdgeException e) {
      undoAfter(e, journaled);
      throw e;
    }
    faults.reached(WriteFaults.Point.AFTER_COMMIT, staged.get(staged.size() - 1).number());
  }

  /** Removes the staged files that were not renamed: after a failure, or when nothing was committed. */
  @Override
  public void close() {
    for (Staged s : staged) {
      try {
        Files.deleteIfExists(s.next());
      } catch (IOException e) {
        log.warn("cannot remove the staged file {}: {}; the next write removes it", s.next(), e.getMessage());
      }
    }
  }

  private void rename(Staged s) throws IOException, EdgeException {
    Path target = clone.resolve(s.relative());
    faults.reached(WriteFaults.Point.BEFORE_RENAME, s.number());
    faults.reached(WriteFaults.Point.RENAME_FAILS, s.number());
    createSynced(target.getParent());
    try {
      Files.move(s.next(), target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      throw new EdgeException("cannot replace " + target + " atomically from " + s.next()
          + ": the clone's .git must be on the same filesystem as its work tree", e);
    }
    faults.reached(WriteFaults.Point.AFTER_FILE_WRITE, s.number());
  }

  /**
   * Undoes the renames after {@code failure}.
   *
   * @throws EdgeException the undo failed too: the failure, the undo's, and what is left
   */
  private void undoAfter(Exception failure, boolean journaled) throws EdgeException {
    try {
      undo(staged);
      if (journaled) {
        removeJournal();
      }
    } catch (IOException | EdgeException e) {
      String left = journaled ? "the node's next record or push puts them back"
          : staged.get(0).relative() + " may hold this call's records: check it before running the call again";
      throw new EdgeException("cannot write the files of nodes/" + node + " in " + clone + ": "
          + failure.getMessage() + ", nor put back the files it had renamed: " + e.getMessage() + "; " + left,
          failure);
    }
  }

  /**
   * Cuts each file back to its length before the call, or deletes it if the call created it.
   *
   * @return how many files it changed: those whose rename had happened
   */
  private int undo(List<Staged> files) throws IOException, EdgeException {
    int changed = 0;
    for (Staged s : files) {
      Path target = clone.resolve(s.relative());
      long now = Files.exists(target) ? Files.size(target) : -1;
      if (now == s.before()) {
        continue;
      }
      if (now != s.after()) {
        throw new EdgeException(s.relative() + " is " + size(now) + ", neither " + size(s.before())
            + " as before the call nor " + size(s.after()) + " as the call left it, so something else changed it");
      }
      if (s.before() < 0) {
        Files.delete(target);
      } else {
        try (FileChannel ch = FileChannel.open(target, StandardOpenOption.WRITE)) {
          ch.truncate(s.before());
          ch.force(true);
        }
      }
      changed++;
    }
    if (changed > 0) {
      sync(clone.resolve(files.get(0).relative()).getParent());
    }
    return changed;
  }

  // ---- the journal

  private void writeJournal() throws IOException {
    StringBuilder text = new StringBuilder(JOURNAL_HEADER).append('\n');
    for (Staged s : staged) {
      text.append(s.before()).append('\t').append(s.after()).append('\t').append(s.relative()).append('\n');
    }
    Path next = staging.resolve("journal");
    try (FileChannel ch = FileChannel.open(next, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
        StandardOpenOption.TRUNCATE_EXISTING)) {
      writeFully(ch, ByteBuffer.wrap(text.toString().getBytes(StandardCharsets.UTF_8)));
      ch.force(true);
    }
    createSynced(journal.getParent());
    Files.move(next, journal, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    sync(journal.getParent());
  }

  private void removeJournal() throws IOException {
    Files.deleteIfExists(journal);
    sync(journal.getParent());
  }

  /** Undoes the call a journal names, when one was left by a process killed mid-call. */
  private void undoJournaled() throws IOException, EdgeException {
    if (!Files.exists(journal)) {
      return;
    }
    List<Staged> files = readJournal();
    int changed = undo(files);
    removeJournal();
    log.warn("nodes/{}: put back {} of the {} files of a record call that was interrupted before it finished; it "
        + "never printed its keys, so none of its records is written and its caller sends them again", node, changed,
        files.size());
  }

  private List<Staged> readJournal() throws IOException, EdgeException {
    List<String> lines = Files.readAllLines(journal, StandardCharsets.UTF_8);
    if (lines.isEmpty() || !lines.get(0).equals(JOURNAL_HEADER)) {
      throw new EdgeException("its first line is not \"" + JOURNAL_HEADER + "\"");
    }
    String folder = WireFormat.NODES_DIR + "/" + node + "/";
    List<Staged> files = new ArrayList<>();
    for (int i = 1; i < lines.size(); i++) {
      Staged file = journalLine(lines.get(i), folder);
      if (file == null) {
        throw new EdgeException("line " + (i + 1) + " is not: bytes before, a tab, bytes after, a tab, a usage "
            + "file of " + folder);
      }
      files.add(file);
    }
    return files;
  }

  /** A line of the journal as the file it names, or null when it is not one this class writes. */
  private static Staged journalLine(String line, String folder) {
    String[] fields = line.split("\t", -1);
    if (fields.length != 3 || !fields[2].startsWith(folder)
        || !WireFormat.isUsageFileName(fields[2].substring(folder.length()))) {
      return null;
    }
    try {
      return new Staged(fields[2], null, Long.parseLong(fields[0]), Long.parseLong(fields[1]), 0);
    } catch (NumberFormatException e) {
      return null;
    }
  }

  private EdgeException cannotUndo(String why) {
    return new EdgeException("cannot put back the files of an interrupted record call of nodes/" + node
        + " that " + journal + " lists: " + why + "; check those files by hand, then remove the journal");
  }

  /** Removes what a killed call left staged; only its journal matters, and that is handled first. */
  private void removeLeftovers() throws IOException {
    if (!Files.isDirectory(staging)) {
      return;
    }
    try (Stream<Path> files = Files.list(staging)) {
      for (Path f : files.toList()) {
        Files.deleteIfExists(f);
      }
    }
  }

  private static String size(long bytes) {
    return bytes < 0 ? "absent" : bytes + " bytes";
  }

  /** Creates {@code folder} and the folders above it that are missing, each synced into its parent. */
  private static void createSynced(Path folder) throws IOException {
    if (Files.isDirectory(folder)) {
      return;
    }
    createSynced(folder.getParent());
    Files.createDirectory(folder);
    sync(folder.getParent());
  }

  private static void sync(Path folder) throws IOException {
    try (FileChannel ch = FileChannel.open(folder, StandardOpenOption.READ)) {
      ch.force(true);
    }
  }

  private static void writeFully(FileChannel ch, ByteBuffer buffer) throws IOException {
    while (buffer.hasRemaining()) {
      ch.write(buffer);
    }
  }
}
