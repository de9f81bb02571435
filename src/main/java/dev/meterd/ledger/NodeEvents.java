package dev.meterd.ledger;

import io.vertx.core.json.JsonObject;
import java.sql.SQLException;
import java.util.Locale;
import java.util.Optional;

/**
 * The {@code node.halted} and {@code node.resumed} events, written inside the halt's, the
 * resume's or the node run's own transaction.
 *
 * <p>A halt is announced when it begins and when its error changes, not each time a run meets it
 * again: a transient failure (the repository unreachable) is retried on every poll and would
 * otherwise announce itself every few minutes. For the same reason a transient halt whose message
 * changes (a timeout, then a reset) is still the same halt; a content error on another line, or a
 * transient halt turning into a content error, is a new one.
 */
final class NodeEvents {

  /** Why a node left its halt: an operator's resume, or a run that consumed it again. */
  enum ResumeReason {
    RESUME,
    RUN
  }

  private NodeEvents() {}

  /** Writes {@code node.halted} unless the node was already halted by the same error. */
  static void halted(SqliteOutbox outbox, Optional<NodeState> before, NodeState after) throws SQLException {
    NodeError previous = before.filter(NodeState::halted).map(NodeState::error).orElse(null);
    if (previous != null && sameHalt(previous, after.error())) {
      return;
    }
    JsonObject data = error(after.error()).put("halted_since", after.haltedSince().toString());
    outbox.append(EventType.NODE_HALTED, new JsonObject().put("node", after.node()).mergeIn(data));
  }

  /** Writes {@code node.resumed} when the node was halted before this write. */
  static void resumed(SqliteOutbox outbox, Optional<NodeState> before, ResumeReason reason) throws SQLException {
    if (before.isEmpty() || !before.get().halted()) {
      return;
    }
    NodeState was = before.get();
    outbox.append(EventType.NODE_RESUMED, new JsonObject()
        .put("node", was.node())
        .put("reason", reason.name().toLowerCase(Locale.ROOT))
        .put("halted_since", was.haltedSince().toString())
        .put("last_error", error(was.error())));
  }

  static boolean sameHalt(NodeError a, NodeError b) {
    if (a.kind() == NodeError.Kind.TRANSIENT && b.kind() == NodeError.Kind.TRANSIENT) {
      return true;
    }
    return a.equals(b);
  }

  /** The error as the node JSON's {@code last_error} shows it. */
  private static JsonObject error(NodeError e) {
    return new JsonObject()
        .put("kind", e.kind().name().toLowerCase(Locale.ROOT))
        .put("file", e.file())
        .put("line", e.line())
        .put("error", e.message());
  }
}
