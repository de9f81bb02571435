package dev.meterd.edge;

import dev.meterd.batch.BatchContentException;
import dev.meterd.batch.BatchParser;
import dev.meterd.batch.UsageRecord;
import dev.meterd.batch.WireFormat;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * A node's folder in its clone as one write finds it, under the writer lock: its usage files, the
 * last file of each hour, and the records already written under the keys the write brings.
 */
final class NodeFolder {

  /**
   * A record already in one of the node's files, with what the reader compares when a key comes
   * again: the user and the cost ({@link BatchText#quoted} form for the user).
   */
  record Recorded(String file, String quotedUser, long costCents) {}

  private final String node;
  private final List<String> usageFiles;
  private final Map<String, Long> lastPart;

  private NodeFolder(String node, List<String> usageFiles, Map<String, Long> lastPart) {
    this.node = node;
    this.usageFiles = usageFiles;
    this.lastPart = lastPart;
  }

  /** Lists the node's folder in the clone; an absent folder is an empty one. */
  static NodeFolder list(Path clone, String node) throws IOException {
    Path folder = clone.resolve(WireFormat.NODES_DIR).resolve(node);
    List<String> files = new ArrayList<>();
    Map<String, Long> lastPart = new HashMap<>();
    if (Files.isDirectory(folder)) {
      try (Stream<Path> list = Files.list(folder)) {
        for (Path f : list.filter(Files::isRegularFile).sorted().toList()) {
          String name = f.getFileName().toString();
          Optional<WireFormat.UsageFileName> usage = WireFormat.usageFileName(name);
          if (usage.isPresent()) {
            files.add(WireFormat.NODES_DIR + "/" + node + "/" + name);
            // Only .toml files: an .otoml one belongs to an older writer, and this one never appends to it.
            if (usage.get().extension().equals("toml")) {
              lastPart.merge(usage.get().hour(), usage.get().part(), Math::max);
            }
          }
        }
      }
    }
    return new NodeFolder(node, files, lastPart);
  }

  /** The part of the hour's last {@code .toml} file ({@code usage_<hour>.<part>.toml}), or -1 when it has none. */
  long lastPart(String hour) {
    return lastPart.getOrDefault(hour, -1L);
  }

  /** How a file's text is read: with a partial last block cut off, null when it holds no record. */
  interface Texts {
    String read(String relative) throws EdgeException, IOException;
  }

  /**
   * The records already in the node's files under each of {@code quotedKeys} (the first in name
   * order for each), found with one pass over each usage file: in this writer's layout without
   * the TOML parser, any other file with {@code parser}.
   *
   * @throws EdgeException a file in another layout is not a valid batch, so its keys are unknown
   */
  Map<String, Recorded> recorded(Set<String> quotedKeys, Texts texts, BatchParser parser)
      throws EdgeException, IOException {
    Map<String, Recorded> found = new HashMap<>();
    if (quotedKeys.isEmpty()) {
      return found;
    }
    for (String file : usageFiles) {
      Consumer<BatchText.Block> look = b -> {
        if (quotedKeys.contains(b.quotedKey())) {
          found.putIfAbsent(b.quotedKey(), new Recorded(file, b.quotedUser(), b.costCents()));
        }
      };
      String text = texts.read(file);
      if (text != null && BatchText.forEachBlock(text, node, look) < 0) {
        for (UsageRecord r : parsed(parser, file, text.getBytes(StandardCharsets.UTF_8))) {
          look.accept(new BatchText.Block(BatchText.quoted(r.idempotencyKey()), BatchText.quoted(r.userSid()),
              r.costCents()));
        }
      }
    }
    return found;
  }

  private List<UsageRecord> parsed(BatchParser parser, String file, byte[] bytes) throws EdgeException {
    try {
      return parser.parse(file, node, bytes).records();
    } catch (BatchContentException e) {
      throw new EdgeException("cannot check idempotency keys against " + file + ": it is not a valid batch ("
          + UsageWriter.readerError(e) + "); fix or move the file");
    }
  }
}
