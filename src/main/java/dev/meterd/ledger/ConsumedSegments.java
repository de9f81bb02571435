package dev.meterd.ledger;

import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The consumed-record index in levels, on SQLite: {@code consumed_newest} takes every new record
 * and stays small; once it holds {@link #level0Rows} rows it is sealed into a segment (renamed,
 * never written again) with a {@link KeyFilter} of its keys, and {@link #fanIn} segments of one
 * tier are merged, in key order, into one of the next. Why: a random key lands on a page of its
 * own, so one large index dirtied a page per record once it outgrew the page cache (written to the
 * WAL, and again by the checkpoint); a small newest level keeps a group's inserts on few pages, and
 * a merge writes its segment's pages once, in order. See V012.
 *
 * <p>A record is consumed once across all levels because the node's run looks every key up in
 * every level before it consumes it ({@link #lookUp}), inside the group's write transaction, and
 * segments change only between groups ({@link #maintain}, after a group's COMMIT, in
 * transactions of their own). A merge of segments that share a key fails on the new segment's
 * primary key, and {@code verify} checks that no key is held twice and that every segment's
 * filter holds its keys. {@code consumed_record} is the view of every level that readers use.
 *
 * <p>On PostgreSQL there is one level, {@code consumed_newest}: this does nothing there.
 *
 * <p>Implementation notes. Segments are immutable, so a committed segment id names its rows and
 * its filter for good (AUTOINCREMENT never hands it out again; only an id a rolled-back
 * transaction took may come back, so nothing here keeps in memory what a transaction did before
 * it committed). The filters loaded are kept by id, and the catalog is read again at each group
 * (another process may have sealed or merged meanwhile). The segments' DDL is the one {@code
 * consumed_newest} was made with, renamed, so that the migrations stay its one source.
 */
final class ConsumedSegments {

  private static final Logger log = LoggerFactory.getLogger(ConsumedSegments.class);

  /** Rows of the newest level that seal it: its pages (about 1,200 of 4 KiB) stay in the page cache. */
  static final int LEVEL0_ROWS = 65_536;
  /**
   * Segments of one tier merged into one of the next: 16 rather than 8 leaves a run of a million
   * records (the benchmark's layouts) without a merge, and fewer tiers to write each record again.
   */
  static final int FAN_IN = 16;

  static final String COLUMNS = "node_id, idempotency_key, wallet_id, cost_cents, occurred_at_ms, txn_id, file_id, "
      + "resource, quantity, waived_cents";
  private static final Pattern CREATE_TABLE = Pattern.compile("^CREATE TABLE\\s+\"?consumed_newest\"?\\s*\\(");

  /** One sealed segment: its table, tier, rows and the filter of its keys. */
  record Segment(long id, int tier, long rows, KeyFilter filter) {
    String table() {
      return table(id);
    }

    static String table(long id) {
      return "consumed_segment_" + id;
    }
  }

  /** The segments read, oldest first: not those a merge is still writing. */
  static final String LIVE = "SELECT segment_id, tier, rows FROM consumed_segment "
      + "WHERE segment_id NOT IN (SELECT segment_id FROM consumed_merge) ORDER BY segment_id";
  /** Records a merge writes in one transaction: about half a second of the write lock. */
  static final int MERGE_CHUNK = 200_000;

  private final SqliteDb db;
  private final boolean enabled;
  private int mergeChunk = MERGE_CHUNK;
  private int level0Rows = LEVEL0_ROWS;
  private int fanIn = FAN_IN;
  /** The segments as last read, oldest first; their filters by id, kept across reads. */
  private List<Segment> segments = List.of();
  /**
   * The keys of {@code consumed_newest} as this connection wrote them since it sealed the level
   * (and those of rows rolled back since: a key too many only costs a read), so that a seal need
   * not read the level for its filter; null when it may miss a key: before this connection's
   * first seal, and whenever another connection has committed since ({@code PRAGMA data_version}
   * moved from {@link #newestVersion}), which may have written into the level.
   */
  private KeyFilter newestFilter;
  private long newestVersion;
  /** The keys {@link #newestFilter} was sized for: a level that outgrew it is read for its filter. */
  private long newestCapacity;

  ConsumedSegments(SqliteDb db) {
    this.db = db;
    this.enabled = db.engine == Engine.SQLITE;
  }

  /** Other bounds than the defaults: for tests, which seal and merge after a few records. Call holding db. */
  void bounds(int level0Rows, int fanIn, int mergeChunk) {
    if (level0Rows < 1 || fanIn < 2 || mergeChunk < 1) {
      throw new IllegalArgumentException("the newest level needs at least 1 row, a merge at least 2 segments "
          + "and its chunks at least 1 record");
    }
    this.level0Rows = level0Rows;
    this.fanIn = fanIn;
    this.mergeChunk = mergeChunk;
  }

  /**
   * The sealed segments as committed now, oldest first, their filters loaded. Call holding db,
   * inside a transaction, so that they stay as read until it ends.
   */
  List<Segment> current() throws SQLException {
    if (!enabled) {
      return List.of();
    }
    Map<Long, Segment> known = new HashMap<>();
    for (Segment s : segments) {
      known.put(s.id(), s);
    }
    List<Segment> now = new ArrayList<>();
    try (ResultSet rs = db.stmt(LIVE).executeQuery()) {
      while (rs.next()) {
        long id = rs.getLong(1);
        Segment s = known.get(id);
        now.add(s != null ? s : new Segment(id, rs.getInt(2), rs.getLong(3), null));
      }
    }
    for (int i = 0; i < now.size(); i++) {
      Segment s = now.get(i);
      if (s.filter() == null) {
        now.set(i, new Segment(s.id(), s.tier(), s.rows(), storedFilter(s.id())));
      }
    }
    for (Segment gone : known.values()) {
      if (now.stream().noneMatch(s -> s.id() == gone.id())) {
        // Merged by another process: its table is dropped, so are the statements prepared on it.
        db.dropStatementsOn(gone.table());
        lookups.remove(gone.id());
      }
    }
    segments = List.copyOf(now);
    return segments;
  }

  private KeyFilter storedFilter(long id) throws SQLException {
    PreparedStatement ps = db.stmt("SELECT filter_hashes, filter FROM consumed_segment WHERE segment_id = ?");
    ps.setLong(1, id);
    try (ResultSet rs = ps.executeQuery()) {
      if (!rs.next()) {
        throw new SQLException("segment " + id + " of the consumed-record index is gone from consumed_segment");
      }
      return KeyFilter.fromBytes(rs.getBytes(2), rs.getInt(1));
    }
  }

  /** A record of an earlier run, as a key that comes again must match it. */
  record Prior(String userSid, long costCents) {}

  /** The look-up of keys in one level, up to {@link SqliteNodeWrite#LOOKED_UP_AT_ONCE} at once. */
  static MultiRowSql lookup(String table) {
    return MultiRowSql.in("SELECT c.idempotency_key, w.user_sid, c.cost_cents FROM " + table
        + " c JOIN wallet w ON w.wallet_id = c.wallet_id WHERE c.node_id = ? AND c.idempotency_key IN",
        SqliteNodeWrite.LOOKED_UP_AT_ONCE);
  }

  private static final MultiRowSql NEWEST_LOOKUP = lookup("consumed_newest");
  private final Map<Long, MultiRowSql> lookups = new HashMap<>();

  /**
   * Adds to {@code found} the records among {@code keys} (at most {@link
   * SqliteNodeWrite#LOOKED_UP_AT_ONCE}) that the index holds for the node: those of its newest
   * level, then those of {@code segments}, each segment read only for the keys its filter may hold.
   * Call holding db.
   */
  void lookUp(List<Segment> segments, long nodeId, List<String> keys, Map<String, Prior> found)
      throws SQLException {
    if (keys.isEmpty()) {
      return;
    }
    read(NEWEST_LOOKUP, nodeId, keys, found);
    if (segments.isEmpty()) {
      return;
    }
    long[] hashes = new long[keys.size()];
    for (int i = 0; i < keys.size(); i++) {
      hashes[i] = KeyFilter.hash(nodeId, keys.get(i));
    }
    List<String> maybe = new ArrayList<>();
    for (Segment s : segments) {
      maybe.clear();
      for (int i = 0; i < keys.size(); i++) {
        if (!found.containsKey(keys.get(i)) && s.filter().mayContain(hashes[i])) {
          maybe.add(keys.get(i));
        }
      }
      if (!maybe.isEmpty()) {
        read(lookups.computeIfAbsent(s.id(), id -> lookup(s.table())), nodeId, maybe, found);
      }
    }
  }

  /**
   * Reads {@code keys} in one level with {@code sql}. The list is padded to a power of two (with
   * its last key again), so that a level needs 7 statements at most rather than one per count.
   */
  private void read(MultiRowSql sql, long nodeId, List<String> keys, Map<String, Prior> found) throws SQLException {
    int size = keys.size() == 1 ? 1 : Math.min(sql.maxRows, Integer.highestOneBit(keys.size() - 1) << 1);
    PreparedStatement ps = db.stmt(sql.sql(size));
    ps.setLong(1, nodeId);
    for (int i = 0; i < size; i++) {
      ps.setString(i + 2, keys.get(Math.min(i, keys.size() - 1)));
    }
    try (ResultSet rs = ps.executeQuery()) {
      while (rs.next()) {
        found.put(rs.getString(1), new Prior(rs.getString(2), rs.getLong(3)));
      }
    }
  }

  /** Whether the index holds any record of the node: in its newest level or in {@code segments}. Call holding db. */
  boolean holdNode(List<Segment> segments, long nodeId) throws SQLException {
    if (levelHoldsNode("consumed_newest", nodeId)) {
      return true;
    }
    for (Segment s : segments) {
      if (levelHoldsNode(s.table(), nodeId)) {
        return true;
      }
    }
    return false;
  }

  private boolean levelHoldsNode(String table, long nodeId) throws SQLException {
    PreparedStatement ps = db.stmt("SELECT 1 FROM " + table + " WHERE node_id = ? LIMIT 1");
    ps.setLong(1, nodeId);
    try (ResultSet rs = ps.executeQuery()) {
      return rs.next();
    }
  }

  /**
   * Seals the newest level if it is full, then merges: at most {@link #mergeChunk} records per
   * call, each chunk in a transaction of its own, so that a large merge is spread over the groups
   * that follow rather than hold up the run. Call holding db, outside any transaction (after a
   * group's COMMIT). A failure rolls back the step that failed and leaves the index as it was, to
   * be tried again after the next group: it is logged, never thrown, since the group's records
   * are committed whatever the index's shape; a merge that finds a key in two segments, or fewer
   * records than listed, is logged as an error (a record consumed twice: run {@code verify}).
   */
  void maintain() {
    if (!enabled) {
      return;
    }
    try {
      // Looked at first outside a transaction: most groups leave the index as it is, and then
      // take no write lock for it.
      long newest = db.query("count the newest level of the consumed-record index", this::level0Count);
      if (newest >= level0Rows) {
        if (newestFilter == null) {
          // The first seal of this connection (after a start, or an upgrade that left the whole
          // index in the level): its keys are read for the filter here, outside the write lock;
          // the level is written by no one else meanwhile, or the seal reads it again.
          long version = db.query("read the data version of the database", db::dataVersion);
          newestFilter = db.query("read the newest level of the consumed-record index for its filter",
              () -> filterOf("consumed_newest", newest));
          newestVersion = version;
          newestCapacity = newest;
        }
        Long emptyAt = db.write("seal the newest level of the consumed-record index", () -> {
          current();
          return level0Count() >= level0Rows ? seal() : null;
        });
        if (emptyAt != null) {
          // Only now that the seal committed: the new level is empty, and this connection knows it.
          newestCapacity = 2L * level0Rows;
          newestFilter = KeyFilter.sized(newestCapacity);
          newestVersion = emptyAt;
        }
      }
      dropUnlisted();
      long budget = mergeChunk;
      while (budget > 0 && db.query("look for a merge of the consumed-record index to do", this::mergeDue)) {
        Merge merge = db.write("begin a merge of segments of the consumed-record index", this::beginOrResume);
        if (merge == null) {
          break;
        }
        Step step = merge(merge, budget);
        budget -= step.written();
        if (!step.listed()) {
          break;
        }
        // Merged and listed: its inputs go, and the next tier may be full.
        dropUnlisted();
      }
    } catch (LedgerException e) {
      if (e.getCause() instanceof IndexDamaged || constraintFailed(e.getCause())) {
        log.error("{}: a record may be held twice; run meterd verify", e.getMessage());
      } else {
        log.warn("{}; the consumed records are kept, the index is tried again after the next group", e.getMessage());
      }
    } catch (RuntimeException | Error e) {
      // Never thrown: the group this follows is committed, and must be reported so.
      log.error("cannot keep the consumed-record index in shape ({}); the consumed records are kept, the index is "
          + "tried again after the next group", e, e);
    }
  }

  /** A key the new segment already holds: what a merge meets when two segments share a key. */
  private static boolean constraintFailed(Throwable cause) {
    return cause instanceof org.sqlite.SQLiteException e
        && (e.getResultCode() == org.sqlite.SQLiteErrorCode.SQLITE_CONSTRAINT_PRIMARYKEY
            || e.getResultCode() == org.sqlite.SQLiteErrorCode.SQLITE_CONSTRAINT_UNIQUE);
  }

  /** A merge found what no merge may: a key in two segments, or fewer records than listed. */
  static final class IndexDamaged extends SQLException {
    IndexDamaged(String message) {
      super(message);
    }
  }

  /** What a call of {@link #merge} did: the records it wrote, and whether it listed the merged segment. */
  private record Step(long written, boolean listed) {}

  /** A merge of {@code inputs} into segment {@code id} of {@code rows} records; {@code begun}: by this call, none written yet. */
  private record Merge(long id, List<Long> inputs, long rows, boolean begun) {}

  /**
   * The filter of the merge into segment {@code filterOf} as this process wrote it: the keys of its
   * first {@code covered} records (and perhaps of a chunk that rolled back: a key too many only
   * costs a read), or null if unknown (the merge was begun by another process, or chunks were
   * written by one): then the merge's last transaction reads the segment's keys for its filter.
   */
  private long filterOf = -1;
  private KeyFilter mergeFilter;
  private long covered;

  /** The merge in progress, or a new one of the lowest full tier, or null. Call in a write transaction. */
  private Merge beginOrResume() throws SQLException {
    try (ResultSet rs = db.stmt("SELECT m.segment_id, m.inputs, s.rows FROM consumed_merge m "
        + "JOIN consumed_segment s ON s.segment_id = m.segment_id ORDER BY m.segment_id LIMIT 1").executeQuery()) {
      if (rs.next()) {
        List<Long> inputs = new ArrayList<>();
        for (String id : rs.getString(2).split(",")) {
          inputs.add(Long.parseLong(id));
        }
        return new Merge(rs.getLong(1), inputs, rs.getLong(3), false);
      }
    }
    List<Segment> inputs = fullTier(current());
    if (inputs == null) {
      return null;
    }
    long rows = 0;
    for (Segment s : inputs) {
      rows = Math.addExact(rows, s.rows());
    }
    long id = newSegment(tierOf(rows), rows, KeyFilter.sized(1));
    try (Statement st = db.conn().createStatement()) {
      st.execute(as(level0Ddl(), Segment.table(id)));
    }
    PreparedStatement ps = db.stmt("INSERT INTO consumed_merge (segment_id, inputs, rows_done) VALUES (?, ?, 0)");
    ps.setLong(1, id);
    ps.setString(2, inputs.stream().map(s -> Long.toString(s.id())).collect(Collectors.joining(",")));
    ps.executeUpdate();
    return new Merge(id, inputs.stream().map(Segment::id).toList(), rows, true);
  }

  /**
   * Writes up to {@code budget} records of the merge's segment, chunk by chunk, each in a
   * transaction of its own; the transaction that writes its last records also lists it in place of
   * its inputs. Each chunk reads every input from the last record written on, in key order, and
   * the UNION ALL merges them (no sort): the segment's pages are written once, in order. A key in
   * two inputs fails the segment's primary key.
   */
  private Step merge(Merge m, long budget) {
    if (filterOf != m.id()) {
      filterOf = m.id();
      mergeFilter = KeyFilter.sized(m.rows());
      covered = 0;
      if (!m.begun()) {
        // Taken up here (after a restart, or from another process): the keys written so far go
        // into the filter now, outside the write lock (written rows never change); the chunks
        // add theirs. Should another process write a chunk meanwhile, the filter is made from
        // the whole segment at the end instead.
        covered = db.query("read the merged segment " + m.id() + " of the consumed-record index for its filter",
            () -> addKeys(Segment.table(m.id()), mergeFilter));
      }
    }
    String table = Segment.table(m.id());
    String select = m.inputs().stream().map(id -> "SELECT " + COLUMNS + " FROM " + Segment.table(id)
        + " WHERE (node_id, idempotency_key) > (?, ?)").collect(Collectors.joining(" UNION ALL "));
    String insert = "INSERT INTO " + table + " (" + COLUMNS + ") " + select + " ORDER BY node_id, idempotency_key LIMIT ?";
    String written = "SELECT node_id, idempotency_key FROM " + table + " WHERE (node_id, idempotency_key) > (?, ?) "
        + "ORDER BY node_id, idempotency_key";
    long total = 0;
    while (total < budget) {
      long limit = budget - total;
      long[] wrote = new long[1];
      boolean listed = db.write("merge segments " + m.inputs() + " of the consumed-record index into segment " + m.id(),
          () -> {
            PreparedStatement progress = db.stmt("SELECT rows_done, last_node_id, last_key FROM consumed_merge "
                + "WHERE segment_id = ?");
            progress.setLong(1, m.id());
            long rowsDone;
            long lastNode;
            String lastKey;
            try (ResultSet rs = progress.executeQuery()) {
              if (!rs.next()) {
                throw new SQLException("the merge into segment " + m.id() + " is no longer in progress");
              }
              rowsDone = rs.getLong(1);
              lastNode = rs.getObject(2) == null ? Long.MIN_VALUE : rs.getLong(2);
              lastKey = rs.getObject(3) == null ? "" : rs.getString(3);
            }
            if (covered != rowsDone) {
              // Chunks were written by another process: the filter is made from the segment at the end.
              mergeFilter = null;
            }
            if (rowsDone < m.rows()) {
              PreparedStatement ps = db.stmt(insert);
              int p = 1;
              for (int i = 0; i < m.inputs().size(); i++) {
                ps.setLong(p++, lastNode);
                ps.setString(p++, lastKey);
              }
              ps.setLong(p, Math.min(limit, m.rows() - rowsDone));
              int n = ps.executeUpdate();
              if (n == 0) {
                throw new IndexDamaged("merged " + rowsDone + " consumed records into segment " + m.id() + ", but its "
                    + m.inputs().size() + " segments are listed with " + m.rows());
              }
              long node = lastNode;
              String key = lastKey;
              PreparedStatement read = db.stmt(written);
              read.setLong(1, lastNode);
              read.setString(2, lastKey);
              try (ResultSet rs = read.executeQuery()) {
                while (rs.next()) {
                  node = rs.getLong(1);
                  key = rs.getString(2);
                  if (mergeFilter != null) {
                    mergeFilter.add(node, key);
                  }
                }
              }
              PreparedStatement moved = db.stmt("UPDATE consumed_merge SET rows_done = ?, last_node_id = ?, "
                  + "last_key = ? WHERE segment_id = ?");
              moved.setLong(1, rowsDone + n);
              moved.setLong(2, node);
              moved.setString(3, key);
              moved.setLong(4, m.id());
              moved.executeUpdate();
              rowsDone += n;
              wrote[0] = n;
            }
            if (rowsDone < m.rows()) {
              return false;
            }
            finish(m, mergeFilter);
            return true;
          });
      total += wrote[0];
      covered += wrote[0];
      if (listed) {
        db.dropStatementsOn(table);
        filterOf = -1;
        mergeFilter = null;
        return new Step(total, true);
      }
    }
    return new Step(total, false);
  }

  /**
   * Lists a merged segment in place of its inputs, with its filter, in the transaction that finds
   * its last chunk written. The inputs' tables are dropped afterwards ({@link #dropUnlisted}), each
   * in a transaction of its own: a large table takes a while to drop.
   */
  private void finish(Merge m, KeyFilter made) throws SQLException {
    String table = Segment.table(m.id());
    KeyFilter filter = made != null ? made : filterOf(table, m.rows());
    PreparedStatement ps = db.stmt("UPDATE consumed_segment SET filter_hashes = ?, filter = ? WHERE segment_id = ?");
    ps.setInt(1, filter.hashes());
    ps.setBytes(2, filter.toBytes());
    ps.setLong(3, m.id());
    ps.executeUpdate();
    PreparedStatement gone = db.stmt("DELETE FROM consumed_merge WHERE segment_id = ?");
    gone.setLong(1, m.id());
    gone.executeUpdate();
    for (long input : m.inputs()) {
      PreparedStatement listed = db.stmt("DELETE FROM consumed_segment WHERE segment_id = ?");
      listed.setLong(1, input);
      if (listed.executeUpdate() != 1) {
        throw new SQLException("segment " + input + ", an input of the merge into segment " + m.id() + ", is gone");
      }
    }
    try (Statement st = db.conn().createStatement()) {
      appendOnly(st, table);
      st.execute("DROP VIEW consumed_record");
      createView(st, liveIds());
    }
    log.info("merged {} segments of the consumed-record index ({} records) into segment {}", m.inputs().size(),
        m.rows(), m.id());
  }

  /** Drops the tables of segments no longer listed (a merge's inputs), each in a transaction of its own. */
  private void dropUnlisted() {
    List<String> tables = db.query("find the merged segments of the consumed-record index", () -> {
      List<String> found = new ArrayList<>();
      try (ResultSet rs = db.stmt("SELECT name FROM sqlite_master WHERE type = 'table' "
          + "AND name LIKE 'consumed\\_segment\\_%' ESCAPE '\\' "
          + "AND CAST(substr(name, 18) AS INTEGER) NOT IN (SELECT segment_id FROM consumed_segment)").executeQuery()) {
        while (rs.next()) {
          found.add(rs.getString(1));
        }
      }
      return found;
    });
    for (String table : tables) {
      db.write("drop the merged segment " + table + " of the consumed-record index", () -> {
        try (Statement st = db.conn().createStatement()) {
          st.execute("DROP TABLE IF EXISTS " + table);
        }
        return null;
      });
      db.dropStatementsOn(table);
      lookups.remove(Long.parseLong(table.substring("consumed_segment_".length())));
    }
  }

  /** Whether a merge is in progress, or a tier has {@link #fanIn} segments: one query, no write lock. */
  private boolean mergeDue() throws SQLException {
    PreparedStatement ps = db.stmt("SELECT EXISTS (SELECT 1 FROM consumed_merge) OR EXISTS (SELECT 1 FROM "
        + "consumed_segment GROUP BY tier HAVING count(*) >= ?)");
    ps.setInt(1, fanIn);
    try (ResultSet rs = ps.executeQuery()) {
      rs.next();
      return rs.getBoolean(1);
    }
  }

  /** The {@link #fanIn} oldest segments of the lowest tier that has as many, or null. */
  private List<Segment> fullTier(List<Segment> all) {
    Map<Integer, List<Segment>> byTier = all.stream().collect(Collectors.groupingBy(Segment::tier));
    return byTier.keySet().stream().sorted().map(byTier::get).filter(l -> l.size() >= fanIn)
        .findFirst().map(l -> l.subList(0, fanIn)).orElse(null);
  }

  private long level0Count() throws SQLException {
    try (ResultSet rs = db.stmt("SELECT count(*) FROM consumed_newest").executeQuery()) {
      rs.next();
      return rs.getLong(1);
    }
  }

  /** The tier of a segment of {@code rows}: 0 below {@code level0Rows * fanIn}, then one more each time that many again. */
  int tierOf(long rows) {
    int tier = 0;
    long bound = (long) level0Rows * fanIn;
    while (rows >= bound && bound < Long.MAX_VALUE / fanIn) {
      tier++;
      bound *= fanIn;
    }
    return tier;
  }

  /** Rows about to be written into {@code consumed_newest}: their keys go into its filter. Call holding db. */
  void writing(List<ConsumedRows.Row> rows) {
    if (newestFilter != null) {
      for (ConsumedRows.Row r : rows) {
        newestFilter.add(r.nodeId(), r.key());
      }
    }
  }

  /**
   * {@code consumed_newest} becomes a segment, and a new empty one takes its place; returns the
   * data version the new level is known empty at, for {@link #newestFilter}.
   */
  private long seal() throws SQLException {
    String ddl = level0Ddl();
    long rows = level0Count();
    // The filter this connection made as it wrote, if nobody else has committed since it was
    // started and it is not too full to be worth keeping; else one read from the level.
    boolean madeHere = newestFilter != null && db.dataVersion() == newestVersion && rows <= newestCapacity;
    KeyFilter filter = madeHere ? newestFilter : filterOf("consumed_newest", rows);
    long id = newSegment(tierOf(rows), rows, filter);
    try (Statement st = db.conn().createStatement()) {
      st.execute("DROP VIEW consumed_record");
      st.execute("DROP TRIGGER consumed_newest_no_update");
      st.execute("DROP TRIGGER consumed_newest_no_delete");
      st.execute("ALTER TABLE consumed_newest RENAME TO " + Segment.table(id));
      appendOnly(st, Segment.table(id));
      st.execute(ddl);
      appendOnly(st, "consumed_newest");
      createView(st, liveIds());
    }
    log.debug("sealed {} consumed records into segment {} of the consumed-record index{}", rows, id,
        madeHere ? "" : ", its keys read for its filter");
    return db.dataVersion();
  }

  /** The ids of the segments read (not those a merge is still writing), oldest first, as this transaction sees them. */
  private List<Long> liveIds() throws SQLException {
    List<Long> ids = new ArrayList<>();
    try (ResultSet rs = db.stmt(LIVE).executeQuery()) {
      while (rs.next()) {
        ids.add(rs.getLong(1));
      }
    }
    return ids;
  }

  private long newSegment(int tier, long rows, KeyFilter filter) throws SQLException {
    PreparedStatement ps = db.stmt("INSERT INTO consumed_segment (tier, rows, filter_hashes, filter) VALUES (?, ?, ?, ?) "
        + "RETURNING segment_id");
    ps.setInt(1, tier);
    ps.setLong(2, rows);
    ps.setInt(3, filter.hashes());
    ps.setBytes(4, filter.toBytes());
    try (ResultSet rs = ps.executeQuery()) {
      rs.next();
      return rs.getLong(1);
    }
  }

  /** The filter of every key in {@code table}, which holds {@code rows} rows. */
  private KeyFilter filterOf(String table, long rows) throws SQLException {
    KeyFilter filter = KeyFilter.sized(rows);
    addKeys(table, filter);
    return filter;
  }

  /** Adds every key of {@code table} to {@code filter}; returns how many rows it read. */
  private long addKeys(String table, KeyFilter filter) throws SQLException {
    long n = 0;
    try (Statement st = db.conn().createStatement();
        ResultSet rs = st.executeQuery("SELECT node_id, idempotency_key FROM " + table)) {
      while (rs.next()) {
        filter.add(rs.getLong(1), rs.getString(2));
        n++;
      }
    }
    return n;
  }

  /** The statement {@code consumed_newest} was made with, as the migrations left it. */
  private String level0Ddl() throws SQLException {
    try (ResultSet rs = db.stmt("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'consumed_newest'")
        .executeQuery()) {
      if (!rs.next()) {
        throw new SQLException("the table consumed_newest is missing");
      }
      return rs.getString(1);
    }
  }

  /** {@code ddl}, {@code consumed_newest}'s, making {@code table} instead. */
  static String as(String ddl, String table) throws SQLException {
    Matcher m = CREATE_TABLE.matcher(ddl);
    if (!m.find()) {
      throw new SQLException("consumed_newest was made by a statement meterd did not write: " + ddl);
    }
    return "CREATE TABLE " + table + " (" + ddl.substring(m.end());
  }

  private static void appendOnly(Statement st, String table) throws SQLException {
    for (String change : List.of("update", "delete")) {
      st.execute("CREATE TRIGGER " + table + "_no_" + change + " BEFORE " + change.toUpperCase(java.util.Locale.ROOT)
          + " ON " + table + " BEGIN SELECT RAISE(ABORT, 'consumed_record is append-only'); END");
    }
  }

  /** {@code consumed_record}, every consumed record: the newest level, then the segments of {@code ids}. */
  private static void createView(Statement st, List<Long> ids) throws SQLException {
    StringBuilder sql = new StringBuilder("CREATE VIEW consumed_record AS SELECT " + COLUMNS + " FROM consumed_newest");
    for (long id : ids) {
      sql.append(" UNION ALL SELECT ").append(COLUMNS).append(" FROM ").append(Segment.table(id));
    }
    st.execute(sql.toString());
  }
}
