package dev.meterd.ledger;

import java.nio.file.Path;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;

/**
 * The ledger's contract on SQLite with a consumed-record index that seals its newest level at two
 * records and merges every two segments of a tier ({@link ConsumedSegments}): every group of the
 * contract's runs leaves segments behind, so each rule of the contract (exactly once, conflicts,
 * replays, holds, verify) is seen to hold across the index's levels, not only in its newest.
 */
class SqliteLevelsLedgerIT extends LedgerContractTests {

  @Override
  LedgerEngine engine() {
    return LedgerEngine.SQLITE;
  }

  @Override
  TestDatabase freshDatabase(Path folder) {
    return new TestDatabase.SqliteFile(folder.resolve("meterd.db"), new int[] {2, 2, 3});
  }

  @Override
  String levelHolding(Statement st, String key) throws SQLException {
    List<String> levels = new ArrayList<>();
    try (ResultSet rs = st.executeQuery("SELECT name FROM sqlite_master WHERE type = 'table' "
        + "AND (name = 'consumed_newest' OR name LIKE 'consumed\\_segment\\_%' ESCAPE '\\')")) {
      while (rs.next()) {
        levels.add(rs.getString(1));
      }
    }
    for (String level : levels) {
      try (ResultSet rs = st.executeQuery("SELECT 1 FROM " + level + " WHERE idempotency_key = '" + key + "'")) {
        if (rs.next()) {
          return level;
        }
      }
    }
    throw new AssertionError("no level of the consumed-record index holds " + key);
  }

  /** The segment no longer holds what its listing says, and consumed_record reads one record less. */
  @Override
  List<String> rulesOfARecordDeletedFromASegment() {
    return List.of("segment_rows", "consumed_levels");
  }
}
