package dev.meterd.testing;

import com.github.tomakehurst.wiremock.WireMockServer;
import com.github.tomakehurst.wiremock.client.WireMock;
import com.github.tomakehurst.wiremock.core.WireMockConfiguration;
import com.github.tomakehurst.wiremock.extension.ResponseDefinitionTransformerV2;
import com.github.tomakehurst.wiremock.http.ResponseDefinition;
import com.github.tomakehurst.wiremock.stubbing.ServeEvent;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.eclipse.jgit.errors.MissingObjectException;
import org.eclipse.jgit.lib.Constants;
import org.eclipse.jgit.lib.FileMode;
import org.eclipse.jgit.lib.ObjectId;
import org.eclipse.jgit.lib.PersonIdent;
import org.eclipse.jgit.lib.Ref;
import org.eclipse.jgit.lib.Repository;
import org.eclipse.jgit.revwalk.RevCommit;
import org.eclipse.jgit.revwalk.RevObject;
import org.eclipse.jgit.revwalk.RevTree;
import org.eclipse.jgit.revwalk.RevWalk;
import org.eclipse.jgit.treewalk.EmptyTreeIterator;
import org.eclipse.jgit.treewalk.TreeWalk;
import org.eclipse.jgit.treewalk.filter.AndTreeFilter;
import org.eclipse.jgit.treewalk.filter.PathFilter;
import org.eclipse.jgit.treewalk.filter.TreeFilter;

/**
 * A Gitea API v1 on WireMock that answers from a real git repository: the endpoints meterd's
 * forge source uses, with Gitea's JSON shapes, paging and caps. Tests add WireMock stubs of a
 * higher priority to inject faults, and count the requests in WireMock's journal.
 */
public final class FakeForge implements AutoCloseable {

  public static final String OWNER = "ops";
  public static final String REPO = "usage";
  public static final String PREFIX = "/api/v1/repos/" + OWNER + "/" + REPO;
  /** Gitea's caps: git trees 1,000 entries a page, lists 50 items. */
  static final int MAX_TREE_PAGE = 1_000;
  static final int MAX_LIST_PAGE = 50;

  private final WireMockServer server;

  public FakeForge(Repository repo) {
    server = new WireMockServer(WireMockConfiguration.options().dynamicPort().bindAddress("127.0.0.1")
        .extensions(new Api(repo)));
    server.start();
    clearFaults();
  }

  /** Removes every stub a test added: the API answers from the repository again. */
  public void clearFaults() {
    server.resetMappings();
    server.stubFor(WireMock.get(WireMock.urlPathMatching(PREFIX + "/.*")).atPriority(10)
        .willReturn(WireMock.aResponse().withTransformers(Api.NAME)));
  }

  public WireMockServer wireMock() {
    return server;
  }

  public String baseUrl() {
    return "http://127.0.0.1:" + server.port();
  }

  /** The requests served since the last reset, oldest first, as "path?query". */
  public List<String> requests() {
    List<String> urls = new ArrayList<>();
    for (ServeEvent e : server.getAllServeEvents()) {
      urls.add(0, e.getRequest().getUrl());
    }
    return urls;
  }

  public void resetRequests() {
    server.resetRequests();
  }

  @Override
  public void close() {
    server.stop();
  }

  /** The API, computed from the repository on each request. */
  private static final class Api implements ResponseDefinitionTransformerV2 {
    static final String NAME = "fake-gitea";
    private final Repository repo;

    Api(Repository repo) {
      this.repo = repo;
    }

    @Override
    public String getName() {
      return NAME;
    }

    @Override
    public boolean applyGlobally() {
      return false;
    }

    @Override
    public ResponseDefinition transform(ServeEvent event) {
      URI uri = URI.create(event.getRequest().getUrl());
      String path = uri.getRawPath().substring(PREFIX.length());
      Map<String, String> query = query(uri.getRawQuery());
      try {
        Object body;
        if (path.startsWith("/branches/")) {
          body = branch(URLDecoder.decode(path.substring("/branches/".length()), StandardCharsets.UTF_8));
        } else if (path.startsWith("/git/trees/")) {
          body = tree(path.substring("/git/trees/".length()), query);
        } else if (path.equals("/commits")) {
          body = commits(query);
        } else if (path.startsWith("/git/blobs/")) {
          body = blob(path.substring("/git/blobs/".length()));
        } else if (path.startsWith("/git/commits/")) {
          body = commit(path.substring("/git/commits/".length()));
        } else {
          body = null;
        }
        if (body == null) {
          return json(404, new JsonObject().put("message", "The target couldn't be found.").put("errors", List.of()));
        }
        return json(200, body);
      } catch (MissingObjectException | IllegalArgumentException e) {
        return json(404, new JsonObject().put("message", "object does not exist [id: " + e.getMessage() + "]"));
      } catch (IOException e) {
        return json(500, new JsonObject().put("message", e.toString()));
      }
    }

    private static ResponseDefinition json(int status, Object body) {
      String text = body instanceof JsonObject o ? o.encode() : ((JsonArray) body).encode();
      return WireMock.aResponse().withStatus(status).withHeader("Content-Type", "application/json;charset=utf-8")
          .withBody(text).build();
    }

    private static Map<String, String> query(String raw) {
      Map<String, String> q = new HashMap<>();
      if (raw != null) {
        for (String pair : raw.split("&")) {
          int eq = pair.indexOf('=');
          q.put(URLDecoder.decode(eq < 0 ? pair : pair.substring(0, eq), StandardCharsets.UTF_8),
              eq < 0 ? "" : URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8));
        }
      }
      return q;
    }

    private static int number(Map<String, String> q, String name, int fallback, int max) {
      String v = q.get(name);
      int n = v == null || v.isEmpty() ? fallback : Integer.parseInt(v);
      return n <= 0 ? fallback : Math.min(n, max);
    }

    private JsonObject branch(String name) throws IOException {
      Ref ref = repo.exactRef(Constants.R_HEADS + name);
      if (ref == null) {
        return null;
      }
      try (RevWalk walk = new RevWalk(repo)) {
        RevCommit c = walk.parseCommit(ref.getObjectId());
        return new JsonObject().put("name", name).put("protected", false).put("commit", new JsonObject()
            .put("id", c.name()).put("message", c.getFullMessage()).put("timestamp", date(c.getCommitterIdent())));
      }
    }

    private JsonObject tree(String sha, Map<String, String> q) throws IOException {
      if (q.containsKey("recursive") && !"false".equals(q.get("recursive"))) {
        throw new IllegalArgumentException("meterd never lists a tree recursively");
      }
      try (RevWalk walk = new RevWalk(repo)) {
        RevObject object = walk.parseAny(ObjectId.fromString(sha));
        RevTree tree = object instanceof RevCommit c ? c.getTree() : object instanceof RevTree t ? t : null;
        if (tree == null) {
          return null;
        }
        List<JsonObject> entries = new ArrayList<>();
        try (TreeWalk tw = new TreeWalk(repo)) {
          tw.addTree(tree);
          tw.setRecursive(false);
          while (tw.next()) {
            FileMode mode = tw.getFileMode(0);
            ObjectId id = tw.getObjectId(0);
            String type = mode == FileMode.TREE ? "tree" : mode == FileMode.GITLINK ? "commit" : "blob";
            entries.add(new JsonObject().put("path", tw.getNameString()).put("mode", mode(mode)).put("type", type)
                .put("size", "blob".equals(type) ? tw.getObjectReader().getObjectSize(id, Constants.OBJ_BLOB) : 0)
                .put("sha", id.name()).put("url", "http://forge.invalid/git/" + type + "s/" + id.name()));
          }
        }
        int perPage = number(q, "per_page", MAX_TREE_PAGE, MAX_TREE_PAGE);
        int page = number(q, "page", 1, Integer.MAX_VALUE);
        int from = Math.min(entries.size(), (page - 1) * perPage);
        int to = Math.min(entries.size(), from + perPage);
        return new JsonObject().put("sha", tree.name()).put("url", "http://forge.invalid/git/trees/" + tree.name())
            .put("tree", new JsonArray(new ArrayList<>(entries.subList(from, to)))).put("truncated", to < entries.size())
            .put("page", page).put("total_count", entries.size());
      }
    }

    private static String mode(FileMode mode) {
      if (mode == FileMode.TREE) {
        return "040000";
      }
      if (mode == FileMode.EXECUTABLE_FILE) {
        return "100755";
      }
      if (mode == FileMode.SYMLINK) {
        return "120000";
      }
      return mode == FileMode.GITLINK ? "160000" : "100644";
    }

    private JsonArray commits(Map<String, String> q) throws IOException {
      int limit = number(q, "limit", 30, MAX_LIST_PAGE);
      int page = number(q, "page", 1, Integer.MAX_VALUE);
      boolean files = !"false".equals(q.get("files"));
      JsonArray result = new JsonArray();
      try (RevWalk walk = new RevWalk(repo)) {
        walk.markStart(walk.parseCommit(repo.resolve(q.getOrDefault("sha", "HEAD"))));
        String path = q.get("path");
        if (path != null && !path.isEmpty()) {
          walk.setTreeFilter(AndTreeFilter.create(PathFilter.create(path), TreeFilter.ANY_DIFF));
        }
        int skip = (page - 1) * limit;
        for (RevCommit c : walk) {
          if (skip-- > 0) {
            continue;
          }
          result.add(commitJson(c.getId(), files));
          if (result.size() == limit) {
            break;
          }
        }
      }
      return result;
    }

    private JsonObject commit(String sha) throws IOException {
      return commitJson(ObjectId.fromString(sha), true);
    }

    /** A commit as Gitea lists it; its files are its changes against its first parent. */
    private JsonObject commitJson(ObjectId id, boolean withFiles) throws IOException {
      try (RevWalk walk = new RevWalk(repo)) {
        RevCommit c = walk.parseCommit(id);
        JsonArray parents = new JsonArray();
        for (RevCommit p : c.getParents()) {
          parents.add(new JsonObject().put("sha", p.name()));
        }
        JsonObject json = new JsonObject().put("sha", c.name()).put("url", "http://forge.invalid/commits/" + c.name())
            .put("created", date(c.getCommitterIdent()))
            .put("commit", new JsonObject().put("message", c.getFullMessage())
                .put("author", person(c.getAuthorIdent())).put("committer", person(c.getCommitterIdent()))
                .put("tree", new JsonObject().put("sha", c.getTree().name())))
            .put("parents", parents);
        if (withFiles) {
          JsonArray files = new JsonArray();
          try (TreeWalk tw = new TreeWalk(repo)) {
            if (c.getParentCount() == 0) {
              tw.addTree(new EmptyTreeIterator());
            } else {
              tw.addTree(walk.parseCommit(c.getParent(0)).getTree());
            }
            tw.addTree(c.getTree());
            tw.setRecursive(true);
            tw.setFilter(TreeFilter.ANY_DIFF);
            while (tw.next()) {
              String status = tw.getFileMode(0) == FileMode.MISSING ? "added"
                  : tw.getFileMode(1) == FileMode.MISSING ? "removed" : "modified";
              files.add(new JsonObject().put("filename", tw.getPathString()).put("status", status));
            }
          }
          json.put("files", files);
        }
        return json;
      }
    }

    private static JsonObject person(PersonIdent p) {
      return new JsonObject().put("name", p.getName()).put("email", p.getEmailAddress()).put("date", date(p));
    }

    private static String date(PersonIdent p) {
      return OffsetDateTime.ofInstant(p.getWhenAsInstant(), p.getZoneId())
          .format(java.time.format.DateTimeFormatter.ISO_OFFSET_DATE_TIME);
    }

    private JsonObject blob(String sha) throws IOException {
      ObjectId id = ObjectId.fromString(sha);
      byte[] bytes = repo.open(id, Constants.OBJ_BLOB).getCachedBytes(Integer.MAX_VALUE);
      return new JsonObject().put("sha", sha).put("size", bytes.length).put("encoding", "base64")
          .put("content", Base64.getEncoder().encodeToString(bytes)).put("url", "http://forge.invalid/git/blobs/" + sha);
    }
  }
}
