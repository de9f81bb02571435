package dev.meterd.source.forge;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.meterd.batch.WireFormat;
import dev.meterd.source.BatchSource;
import dev.meterd.source.SourceException;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * The usage repository through a Gitea or Forgejo forge's API v1, with no clone.
 *
 * <p>Every read of a run names a sha: the branch tip the run saw first, then tree and blob ids, so
 * a push during the run belongs to the next one. Trees and blobs never change under their sha and
 * are cached (bounded). What a run costs in requests, with k of N nodes changed:
 *
 * <ul>
 *   <li>the tip unchanged since the last run: 1 (the branch);
 *   <li>otherwise: the branch, the root tree and the {@code nodes} tree (one page per 1,000
 *       nodes), one page of the commit list per 50 commits since the last run (to notice a
 *       folder changed and changed back), and per changed node its newest touching commit, its
 *       folder's tree at the tip and at its cursor (unless cached), and one blob per changed
 *       file.
 * </ul>
 *
 * <p>Semantics are the git source's, checked by the shared contract tests. One difference in
 * cost, not in outcome: after a rewritten history whose old tip the new branch no longer
 * contains (or more than {@link #MAX_SINCE_PAGES} pages of commits since the last run), every
 * unchanged node's newest touching commit is looked up once.
 */
public final class ForgeBatchSource implements BatchSource {

  static final int MAX_SINCE_PAGES = 20;
  private static final Pattern SHA = Pattern.compile("[0-9a-f]{40}|[0-9a-f]{64}");
  private static final String TREE_MODE = "040000";

  /** An entry of a tree as the forge lists it. */
  record Entry(String name, String mode, String type, String sha, long size) {
    boolean isTree() {
      return "tree".equals(type);
    }

    boolean isFile() {
      return "blob".equals(type) && ("100644".equals(mode) || "100755".equals(mode));
    }
  }

  private final ForgeHttp http;
  private final String repoPath;
  private final String branch;
  private final String description;
  private final ForgeOptions options;
  private final Cache<String, List<Entry>> trees;
  private final Cache<String, byte[]> blobs;
  /** Per run: each node's commits from the tip that touch its folder, newest first, as read. */
  private final Map<String, NodeLog> nodeLogs = new HashMap<>();

  private static final class NodeLog {
    final List<String> commits = new ArrayList<>();
    int pagesRead;
    boolean complete;
  }

  private ForgeBatchSource(ForgeHttp http, String owner, String repo, String branch, ForgeOptions options,
      String description) {
    this.http = http;
    this.repoPath = "/api/v1/repos/" + segment(owner) + "/" + segment(repo);
    this.branch = branch;
    this.options = options;
    this.description = description;
    this.trees = Caffeine.newBuilder().maximumWeight(options.treeCacheEntries())
        .weigher((String sha, List<Entry> entries) -> Math.max(1, entries.size())).build();
    this.blobs = Caffeine.newBuilder().maximumWeight(options.blobCacheBytes())
        .weigher((String sha, byte[] bytes) -> Math.max(1, bytes.length)).build();
  }

  /**
   * A source over {@code base_url}'s API for {@code owner/repo}.
   *
   * @param token sent as {@code Authorization: token ...} to base_url's host only; never logged
   */
  public static ForgeBatchSource open(String baseUrl, String owner, String repo, String branch,
      Optional<String> token, ForgeOptions options) throws SourceException {
    URI base;
    try {
      base = new URI(baseUrl);
    } catch (java.net.URISyntaxException e) {
      throw new SourceException("source.base_url \"" + baseUrl + "\" is not a URL: " + e.getMessage());
    }
    if (!("https".equals(base.getScheme()) || "http".equals(base.getScheme())) || base.getHost() == null
        || base.getUserInfo() != null) {
      throw new SourceException("source.base_url \"" + baseUrl + "\" must be http(s)://HOST[:PORT][/PATH] "
          + "with no user info (the token comes from METERD_FORGE_TOKEN or token_file)");
    }
    return new ForgeBatchSource(new ForgeHttp(base, token, options), owner, repo, branch, options,
        "forge " + base.getScheme() + "://" + base.getHost() + (base.getPort() == -1 ? "" : ":" + base.getPort())
            + " " + owner + "/" + repo);
  }

  private static String segment(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
  }

  /** Requests made so far, every try counted. */
  public long requests() {
    return http.requests();
  }

  @Override
  public void close() {
    http.close();
  }

  // ---- reading the API

  private ForgeHttp.Reply get(String path, Map<String, String> query, long maxBytes) throws SourceException {
    URI uri = http.uri(repoPath + path, query);
    String what = description + ": GET " + uri.getRawPath()
        + (uri.getRawQuery() == null ? "" : "?" + uri.getRawQuery());
    return http.get(uri, what, maxBytes);
  }

  private String where(String path) {
    return description + ": GET " + repoPath + path;
  }

  private static Object parse(ForgeHttp.Reply reply, String where) throws SourceException {
    try {
      String text = reply.body().toString(StandardCharsets.UTF_8);
      return text.stripLeading().startsWith("[") ? new JsonArray(text) : new JsonObject(text);
    } catch (DecodeException e) {
      throw new SourceException(where + ": the reply is not valid JSON (" + e.getMessage() + ")");
    }
  }

  private static JsonObject object(ForgeHttp.Reply reply, String where) throws SourceException {
    if (parse(reply, where) instanceof JsonObject o) {
      return o;
    }
    throw new SourceException(where + ": the reply is not a JSON object");
  }

  private static JsonArray array(ForgeHttp.Reply reply, String where) throws SourceException {
    if (parse(reply, where) instanceof JsonArray a) {
      return a;
    }
    throw new SourceException(where + ": the reply is not a JSON array");
  }

  /** A field that must be a string; {@code dotted} names it for the message. */
  private static String text(JsonObject o, String field, String dotted, String where) throws SourceException {
    Object v = o == null ? null : o.getValue(field);
    if (v instanceof String s) {
      return s;
    }
    throw new SourceException(where + ": the reply has no string " + dotted);
  }

  private static String sha(JsonObject o, String field, String dotted, String where) throws SourceException {
    String s = text(o, field, dotted, where);
    if (!SHA.matcher(s).matches()) {
      throw new SourceException(where + ": " + dotted + " is not a sha: \"" + abbreviate(s) + "\"");
    }
    return s;
  }

  private static String abbreviate(String s) {
    return s.length() <= 80 ? s : s.substring(0, 80) + "...";
  }

  // ---- BatchSource

  @Override
  public String tip() throws SourceException {
    nodeLogs.clear();
    String path = "/branches/" + segment(branch);
    ForgeHttp.Reply reply = get(path, Map.of(), options.maxJsonBytes());
    if (!reply.found()) {
      throw new SourceException(description + " has no branch " + branch);
    }
    JsonObject body = object(reply, where(path));
    Object commit = body.getValue("commit");
    return sha(commit instanceof JsonObject c ? c : null, "id", "commit.id", where(path));
  }

  /** A tree's entries, all pages, or null when the forge has no such tree. */
  List<Entry> tree(String sha) throws SourceException {
    List<Entry> cached = trees.getIfPresent(sha);
    if (cached != null) {
      return cached;
    }
    String path = "/git/trees/" + sha;
    List<Entry> entries = new ArrayList<>();
    for (int page = 1; ; page++) {
      Map<String, String> query = new LinkedHashMap<>();
      query.put("page", Integer.toString(page));
      query.put("per_page", Integer.toString(options.treePageSize()));
      ForgeHttp.Reply reply = get(path, query, options.maxJsonBytes());
      if (!reply.found()) {
        if (page == 1) {
          return null;
        }
        throw new SourceException(where(path) + ": page " + page + " is missing");
      }
      String where = where(path) + " page " + page;
      JsonObject body = object(reply, where);
      if (!(body.getValue("tree") instanceof JsonArray list)) {
        throw new SourceException(where + ": the reply has no tree array");
      }
      for (Object item : list) {
        if (!(item instanceof JsonObject e)) {
          throw new SourceException(where + ": a tree entry is not an object");
        }
        Object size = e.getValue("size");
        entries.add(new Entry(text(e, "path", "tree[].path", where), text(e, "mode", "tree[].mode", where),
            text(e, "type", "tree[].type", where), sha(e, "sha", "tree[].sha", where),
            size instanceof Number n ? n.longValue() : 0));
      }
      boolean truncated = Boolean.TRUE.equals(body.getValue("truncated"));
      if (!truncated) {
        break;
      }
      if (list.isEmpty()) {
        throw new SourceException(where + ": truncated, but the page is empty");
      }
    }
    List<Entry> result = List.copyOf(entries);
    trees.put(sha, result);
    return result;
  }

  private static Entry find(List<Entry> entries, String name) {
    if (entries == null) {
      return null;
    }
    for (Entry e : entries) {
      if (e.name().equals(name)) {
        return e;
      }
    }
    return null;
  }

  /** The entries of the {@code nodes} folder at a commit, or null when it has none. */
  private List<Entry> nodesFolder(String commit) throws SourceException {
    Entry nodes = find(tree(commit), WireFormat.NODES_DIR);
    return nodes == null || !nodes.isTree() ? null : tree(nodes.sha());
  }

  @Override
  public NodeListing listNodes(String tip) throws SourceException {
    if (tree(tip) == null) {
      throw new SourceException(description + " has no tree for commit " + tip);
    }
    List<NodeFolder> nodes = new ArrayList<>();
    List<String> ignored = new ArrayList<>();
    List<Entry> folder = nodesFolder(tip);
    if (folder != null) {
      for (Entry e : folder) {
        if (e.isTree() && TREE_MODE.equals(e.mode()) && WireFormat.isNodeName(e.name())) {
          nodes.add(new NodeFolder(e.name(), e.sha()));
        } else {
          ignored.add(WireFormat.NODES_DIR + "/" + e.name());
        }
      }
    }
    return new NodeListing(nodes, ignored);
  }

  /** One page of commits from {@code tip}, newest first, limited to a path when one is given. */
  private JsonArray commits(String tip, String path, int page, boolean files) throws SourceException {
    Map<String, String> query = new LinkedHashMap<>();
    query.put("sha", tip);
    if (path != null) {
      query.put("path", path);
    }
    query.put("limit", Integer.toString(options.commitPageSize()));
    query.put("page", Integer.toString(page));
    query.put("stat", "false");
    query.put("verification", "false");
    query.put("files", Boolean.toString(files));
    ForgeHttp.Reply reply = get("/commits", query, options.maxJsonBytes());
    String where = where("/commits") + " page " + page;
    if (!reply.found()) {
      throw new SourceException(where + ": no such commit " + tip);
    }
    return array(reply, where);
  }

  /** Reads one more page of a node's touching commits; false when there are no more. */
  private boolean readMore(String tip, String node, NodeLog log) throws SourceException {
    if (log.complete) {
      return false;
    }
    JsonArray page = commits(tip, WireFormat.NODES_DIR + "/" + node, log.pagesRead + 1, false);
    log.pagesRead++;
    String where = where("/commits") + " (nodes/" + node + ")";
    for (Object item : page) {
      log.commits.add(sha(item instanceof JsonObject o ? o : null, "sha", "[].sha", where));
    }
    log.complete = page.size() < options.commitPageSize();
    return !page.isEmpty();
  }

  private NodeLog nodeLog(String tip, String node) throws SourceException {
    NodeLog log = nodeLogs.get(node);
    if (log == null) {
      log = new NodeLog();
      readMore(tip, node, log);
      nodeLogs.put(node, log);
    }
    return log;
  }

  @Override
  public History history(String tip, Map<String, String> tipTrees, String since) throws SourceException {
    Map<String, String> newest = new TreeMap<>();
    for (String node : new java.util.TreeSet<>(tipTrees.keySet())) {
      NodeLog log = nodeLog(tip, node);
      newest.put(node, log.commits.isEmpty() ? tip : log.commits.get(0));
    }
    return new History(newest, since == null ? Set.of() : touchedSince(tip, since));
  }

  /** The nodes that commits after {@code since} touched, by the files each commit changed. */
  private Set<String> touchedSince(String tip, String since) throws SourceException {
    Set<String> touched = new LinkedHashSet<>();
    String prefix = WireFormat.NODES_DIR + "/";
    for (int page = 1; page <= MAX_SINCE_PAGES; page++) {
      JsonArray commits = commits(tip, null, page, true);
      String where = where("/commits") + " page " + page;
      for (Object item : commits) {
        JsonObject commit = item instanceof JsonObject o ? o : null;
        if (sha(commit, "sha", "[].sha", where).equals(since)) {
          return touched;
        }
        if (!(commit.getValue("files") instanceof JsonArray files)) {
          throw new SourceException(where + ": a commit has no files array");
        }
        for (Object f : files) {
          String name = text(f instanceof JsonObject o ? o : null, "filename", "[].files[].filename", where);
          if (name.startsWith(prefix) && name.indexOf('/', prefix.length()) > 0) {
            touched.add(name.substring(prefix.length(), name.indexOf('/', prefix.length())));
          }
        }
      }
      if (commits.size() < options.commitPageSize()) {
        break;
      }
    }
    // The last run's tip is not in the branch's history (rewritten), or too far back to list:
    // every node may have been touched.
    NodeListing listing = listNodes(tip);
    listing.nodes().forEach(n -> touched.add(n.name()));
    return touched;
  }

  @Override
  public NodeFiles changedFiles(String node, String oldTreeId, String newTreeId) throws SourceException {
    String prefix = WireFormat.NODES_DIR + "/" + node + "/";
    List<Entry> now = tree(newTreeId);
    if (now == null) {
      throw new SourceException(description + " has no tree " + newTreeId + " for " + prefix);
    }
    // A tree gone after a rewritten history: read every file, the index dedups.
    List<Entry> before = oldTreeId == null ? null : tree(oldTreeId);
    Map<String, String> old = new HashMap<>();
    if (before != null) {
      before.forEach(e -> old.put(e.name(), e.sha()));
    }
    List<FileRef> changed = new ArrayList<>();
    List<String> ignored = new ArrayList<>();
    for (Entry e : now) {
      if (!e.isFile() || !WireFormat.isUsageFileName(e.name())) {
        ignored.add(prefix + e.name());
      } else if (!e.sha().equals(old.get(e.name()))) {
        changed.add(new FileRef(prefix + e.name(), e.sha(), e.size()));
      }
    }
    return new NodeFiles(changed, ignored);
  }

  @Override
  public String nodeTreeAt(String commit, String node) throws SourceException {
    Entry e = find(nodesFolder(commit), node);
    return e == null || !e.isTree() ? null : e.sha();
  }

  @Override
  public List<String> oldestFirst(Collection<String> commits) throws SourceException {
    Map<String, Long> times = new LinkedHashMap<>();
    for (String c : commits) {
      String path = "/git/commits/" + c;
      ForgeHttp.Reply reply = get(path, Map.of("stat", "false", "verification", "false", "files", "false"),
          options.maxJsonBytes());
      if (!reply.found()) {
        continue;
      }
      JsonObject body = object(reply, where(path));
      Object inner = body.getValue("commit");
      Object committer = inner instanceof JsonObject o ? o.getValue("committer") : null;
      String date = text(committer instanceof JsonObject o ? o : null, "date", "commit.committer.date", where(path));
      try {
        times.put(c, OffsetDateTime.parse(date).toEpochSecond());
      } catch (java.time.format.DateTimeParseException e) {
        throw new SourceException(where(path) + ": commit.committer.date is not a date: \"" + abbreviate(date) + "\"");
      }
    }
    List<String> ordered = new ArrayList<>(times.keySet());
    ordered.sort(Comparator.comparingLong(times::get));
    return ordered;
  }

  @Override
  public byte[] read(FileRef file) throws SourceException {
    byte[] cached = blobs.getIfPresent(file.blobId());
    if (cached != null) {
      return cached;
    }
    String path = "/git/blobs/" + file.blobId();
    String where = where(path) + " (" + file.path() + ")";
    // Base64 is 4 bytes for 3, and the JSON around it is small.
    ForgeHttp.Reply reply = get(path, Map.of(), (file.sizeBytes() + 2) / 3 * 4 + 64 * 1024);
    if (!reply.found()) {
      throw new SourceException(where + ": the forge has no such blob");
    }
    JsonObject body = object(reply, where);
    String encoding = text(body, "encoding", "encoding", where);
    if (!"base64".equals(encoding)) {
      throw new SourceException(where + ": encoding is \"" + abbreviate(encoding) + "\", not base64");
    }
    byte[] bytes;
    try {
      bytes = Base64.getDecoder().decode(text(body, "content", "content", where).replace("\n", "").replace("\r", ""));
    } catch (IllegalArgumentException e) {
      throw new SourceException(where + ": content is not valid base64 (" + e.getMessage() + ")");
    }
    if (bytes.length != file.sizeBytes() || !blobId(bytes, file.blobId().length()).equals(file.blobId())) {
      throw new SourceException(where + ": the forge sent " + bytes.length + " bytes whose blob id is not "
          + file.blobId() + " (" + file.sizeBytes() + " bytes expected)");
    }
    blobs.put(file.blobId(), bytes);
    return bytes;
  }

  /** Git's id of a blob: the hash of {@code blob <size>\0} and the bytes (SHA-1, or SHA-256). */
  static String blobId(byte[] bytes, int hexLength) {
    try {
      MessageDigest md = MessageDigest.getInstance(hexLength == 64 ? "SHA-256" : "SHA-1");
      md.update(("blob " + bytes.length + "\0").getBytes(StandardCharsets.US_ASCII));
      return HexFormat.of().formatHex(md.digest(bytes));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("the JVM has no " + (hexLength == 64 ? "SHA-256" : "SHA-1"), e);
    }
  }

  @Override
  public boolean isAncestor(String commit, String tip, String node) throws SourceException {
    if (commit.equals(tip)) {
      return true;
    }
    NodeLog log = nodeLog(tip, node);
    int checked = 0;
    while (true) {
      for (; checked < log.commits.size(); checked++) {
        if (log.commits.get(checked).equals(commit)) {
          return true;
        }
      }
      if (!readMore(tip, node, log)) {
        return false;
      }
    }
  }
}
