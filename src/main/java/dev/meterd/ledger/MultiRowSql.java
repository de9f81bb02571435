package dev.meterd.ledger;

import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.Collections;
import java.util.List;
import java.util.function.IntFunction;

/**
 * The text of a statement over up to {@link #maxRows} rows or values at once, one text per count,
 * built once: one statement for many rows, rather than one each, saves most of their cost.
 */
final class MultiRowSql {

  final int maxRows;
  private final IntFunction<String> build;
  private final String[] sql;

  private MultiRowSql(int maxRows, IntFunction<String> build) {
    this.maxRows = maxRows;
    this.build = build;
    this.sql = new String[maxRows + 1];
  }

  /** {@code head}: {@code INSERT INTO t (c1, ..., cN) VALUES}, with {@code columns} = N. */
  static MultiRowSql insert(String head, int columns, int maxRows) {
    return rows(head, columns, "", maxRows);
  }

  /**
   * {@code head}, then up to {@code maxRows} rows of {@code columns} parameters each ({@code (?, ?), (?, ?)}),
   * then {@code tail}: an INSERT's rows followed by its {@code ON CONFLICT}, or the rows of a
   * {@code FROM (VALUES ...)}.
   */
  static MultiRowSql rows(String head, int columns, String tail, int maxRows) {
    String tuple = "(" + "?, ".repeat(columns - 1) + "?)";
    return new MultiRowSql(maxRows, rows -> head + " " + String.join(", ", Collections.nCopies(rows, tuple)) + tail);
  }

  /** {@code head}: a statement ending in {@code ... IN}, followed by a list of up to {@code maxValues} parameters. */
  static MultiRowSql in(String head, int maxValues) {
    return new MultiRowSql(maxValues, values -> head + " (" + "?, ".repeat(values - 1) + "?)");
  }

  String sql(int rows) {
    String text = sql[rows];
    if (text == null) {
      text = build.apply(rows);
      sql[rows] = text;
    }
    return text;
  }

  /** Binds one chunk's parameters, from the first. */
  @FunctionalInterface
  interface ChunkBinder<T> {
    void bind(PreparedStatement ps, List<T> chunk) throws SQLException;
  }

  /**
   * Runs the statement over {@code rows}, {@link #maxRows} at a time, each chunk bound by {@code
   * bind}; a statement that writes other than its chunk's rows fails, naming them as {@code what}.
   * Call holding {@code db}, in its transaction.
   */
  <T> void writeAll(SqliteDb db, List<T> rows, String what, ChunkBinder<T> bind) throws SQLException {
    for (int from = 0; from < rows.size(); from += maxRows) {
      List<T> chunk = rows.subList(from, Math.min(rows.size(), from + maxRows));
      PreparedStatement ps = db.stmt(sql(chunk.size()));
      bind.bind(ps, chunk);
      int written = ps.executeUpdate();
      if (written != chunk.size()) {
        throw new SQLException("wrote " + written + " of " + chunk.size() + " " + what);
      }
    }
  }
}
