package dev.meterd.engine;

import static dev.meterd.testing.UsageRepo.batch;
import static dev.meterd.testing.UsageRepo.record;
import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.batch.BatchParser;
import dev.meterd.ledger.SqliteLedger;
import dev.meterd.ledger.Wallet;
import dev.meterd.source.git.GitBatchSource;
import dev.meterd.testing.MutableClock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.eclipse.jgit.api.Git;
import org.eclipse.jgit.lib.CommitBuilder;
import org.eclipse.jgit.lib.Constants;
import org.eclipse.jgit.lib.FileMode;
import org.eclipse.jgit.lib.ObjectId;
import org.eclipse.jgit.lib.ObjectInserter;
import org.eclipse.jgit.lib.PersonIdent;
import org.eclipse.jgit.lib.RefUpdate;
import org.eclipse.jgit.lib.Repository;
import org.eclipse.jgit.lib.TreeFormatter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Trees no honest writer makes, built entry by entry with JGit's TreeFormatter: names that try
 * to escape or impersonate, symlinks, submodules, a file where a node folder should be. Each is
 * passed over and counted; nothing of it is read or charged; the honest node goes on.
 */
class HostileTreeIT {

  @TempDir
  Path tmp;

  private record Entry(FileMode mode, ObjectId id) {}

  private static ObjectId tree(ObjectInserter ins, Map<String, Entry> entries) throws Exception {
    TreeFormatter f = new TreeFormatter();
    // Git orders entries by name, folders as if they ended in '/'.
    Map<String, Entry> sorted = new TreeMap<>((a, b) -> {
      String ka = entries.get(a).mode() == FileMode.TREE ? a + "/" : a;
      String kb = entries.get(b).mode() == FileMode.TREE ? b + "/" : b;
      return ka.compareTo(kb);
    });
    sorted.putAll(entries);
    sorted.forEach((name, e) -> f.append(name, e.mode(), e.id()));
    return ins.insert(f);
  }

  private static Entry blob(ObjectInserter ins, String text) throws Exception {
    return new Entry(FileMode.REGULAR_FILE, ins.insert(Constants.OBJ_BLOB, text.getBytes(StandardCharsets.UTF_8)));
  }

  @Test
  void hostileEntriesArePassedOverCountedAndNeverCharged() throws Exception {
    Path dir = tmp.resolve("usage.git");
    String poison = batch(record("x", "u_evil", 1_000_000));
    try (Repository repo = Git.init().setBare(true).setInitialBranch("main").setDirectory(dir.toFile()).call()
        .getRepository(); ObjectInserter ins = repo.newObjectInserter()) {
      String usage = "usage_2026-11-21-10.toml";
      ObjectId honest = tree(ins, Map.of(
          usage, blob(ins, batch(record("a1", "u_1", 7))),
          "usage_2026-11-21-11.toml", new Entry(FileMode.SYMLINK, ins.insert(Constants.OBJ_BLOB,
              "../../etc/passwd".getBytes(StandardCharsets.UTF_8))),
          "usage_2026-11-21-12.toml", new Entry(FileMode.GITLINK, ObjectId.fromString(
              "0123456789abcdef0123456789abcdef01234567")),
          "usage_2026-11-21-13.toml", new Entry(FileMode.TREE, tree(ins, Map.of(usage, blob(ins, poison)))),
          "usage_２０２６-11-21-14.toml", blob(ins, poison)));
      ObjectId poisoned = tree(ins, Map.of(usage, blob(ins, poison)));
      ObjectId nodes = tree(ins, Map.of(
          "edge-1", new Entry(FileMode.TREE, honest),
          "..", new Entry(FileMode.TREE, poisoned),
          ".hidden", new Entry(FileMode.TREE, poisoned),
          "a%2Fb", new Entry(FileMode.TREE, poisoned),
          "a\\b", new Entry(FileMode.TREE, poisoned),
          "\u0435dge-1", new Entry(FileMode.TREE, poisoned),
          "edge\u20101", new Entry(FileMode.TREE, poisoned),
          "edge-2", blob(ins, poison),
          "edge-3", new Entry(FileMode.GITLINK, ObjectId.fromString("0123456789abcdef0123456789abcdef01234567")),
          "edge-4", new Entry(FileMode.SYMLINK, ins.insert(Constants.OBJ_BLOB, "edge-1".getBytes(StandardCharsets.UTF_8)))));
      ObjectId root = tree(ins, Map.of("nodes", new Entry(FileMode.TREE, nodes)));
      CommitBuilder commit = new CommitBuilder();
      PersonIdent who = new PersonIdent("mallory", "m@localhost", Instant.parse("2026-11-21T10:00:00Z"),
          java.time.ZoneOffset.UTC);
      commit.setTreeId(root);
      commit.setAuthor(who);
      commit.setCommitter(who);
      commit.setMessage("hostile");
      ObjectId id = ins.insert(commit);
      ins.flush();
      RefUpdate ref = repo.updateRef("refs/heads/main");
      ref.setNewObjectId(id);
      assertThat(ref.update()).isEqualTo(RefUpdate.Result.NEW);
    }

    MutableClock clock = new MutableClock(Instant.parse("2026-11-21T11:00:00Z"));
    try (SqliteLedger ledger = SqliteLedger.open(tmp.resolve("meterd.db"), clock);
        GitBatchSource source = GitBatchSource.open(dir.toString(), "main", tmp.resolve("clone"), Optional.empty())) {
      RunSummary s = new Aggregator(source, ledger, new BatchParser(BatchParser.Limits.DEFAULT), clock,
          FaultInjector.NONE).run(RunRequest.ALL);
      assertThat(s.nodesTotal()).isEqualTo(1);
      assertThat(s.halted()).isEmpty();
      assertThat(s.recordsConsumed()).isEqualTo(1);
      assertThat(s.ignored()).isEqualTo(9 + 4);
      assertThat(ledger.reads().wallets()).extracting(Wallet::userSid).containsExactly("u_1");
      assertThat(ledger.audit().verify()).isEmpty();
    }
  }
}
