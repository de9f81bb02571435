package dev.meterd.ledger;

import java.util.Collections;

/**
 * The text of an {@code INSERT} of up to {@link #maxRows} rows in one statement, one text per
 * row count, built once: one statement for many rows, rather than one each, saves most of their
 * cost.
 */
final class MultiRowInsert {

  final int maxRows;
  private final String head;
  private final String tuple;
  private final String[] sql;

  /** {@code head}: {@code INSERT INTO t (c1, ..., cN) VALUES}, with {@code columns} = N. */
  MultiRowInsert(String head, int columns, int maxRows) {
    this.head = head + " ";
    this.tuple = "(" + "?, ".repeat(columns - 1) + "?)";
    this.maxRows = maxRows;
    this.sql = new String[maxRows + 1];
  }

  String sql(int rows) {
    String text = sql[rows];
    if (text == null) {
      text = head + String.join(", ", Collections.nCopies(rows, tuple));
      sql[rows] = text;
    }
    return text;
  }
}
