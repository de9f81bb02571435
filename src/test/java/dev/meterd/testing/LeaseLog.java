package dev.meterd.testing;

import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The lease log of a shared ledger, and the proof drawn from it that no node was run by two
 * daemons at once: every claim of a node has a higher epoch than the one before, and every commit,
 * halt or give-back of it is by the holder of its latest claim, under that claim's epoch, before
 * anyone claimed it again.
 */
public final class LeaseLog {

  /** One row of {@code lease_log}. */
  public record Entry(long seq, String node, long epoch, String holder, String event) {}

  private LeaseLog() {}

  public static List<Entry> read(Connection c) throws SQLException {
    List<Entry> log = new ArrayList<>();
    try (Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT seq, node, epoch, holder, event FROM lease_log ORDER BY seq")) {
      while (rs.next()) {
        log.add(new Entry(rs.getLong(1), rs.getString(2), rs.getLong(3), rs.getString(4), rs.getString(5)));
      }
    }
    return log;
  }

  /** Each breach of the rule, as a sentence naming its row; empty when the log proves it. */
  public static List<String> violations(List<Entry> log) {
    record Claim(long epoch, String holder, boolean open) {}
    Map<String, Claim> current = new HashMap<>();
    List<String> violations = new ArrayList<>();
    for (Entry e : log) {
      Claim before = current.get(e.node());
      switch (e.event()) {
        case "claim", "takeover" -> {
          if (before != null && e.epoch() <= before.epoch()) {
            violations.add(e + ": epoch " + e.epoch() + " does not grow past " + before.epoch());
          }
          boolean open = before != null && before.open();
          if (e.event().equals("claim") && open) {
            violations.add(e + ": claimed while " + before.holder() + " still held epoch " + before.epoch());
          }
          if (e.event().equals("takeover") && !open) {
            violations.add(e + ": a takeover of a lease no one held");
          }
          current.put(e.node(), new Claim(e.epoch(), e.holder(), true));
        }
        case "commit", "halt", "release" -> {
          if (before == null || !before.open() || before.epoch() != e.epoch() || !before.holder().equals(e.holder())) {
            violations.add(e + ": not under the node's open claim " + before);
          }
          current.put(e.node(), new Claim(e.epoch(), e.holder(), false));
        }
        default -> violations.add(e + ": an unknown event");
      }
    }
    return violations;
  }

  /** The holders whose commits the log records for each node, in order. */
  public static Map<String, List<String>> commitsByNode(List<Entry> log) {
    Map<String, List<String>> result = new java.util.TreeMap<>();
    for (Entry e : log) {
      if (e.event().equals("commit")) {
        result.computeIfAbsent(e.node(), n -> new ArrayList<>()).add(e.holder());
      }
    }
    return result;
  }
}
