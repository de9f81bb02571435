package dev.meterd.ledger;

import dev.meterd.testing.TestPostgres;
import java.nio.file.Path;

/**
 * The engines a ledger can live in, for the suites that run their tests on each: such a suite is
 * {@code @ParameterizedClass @EnumSource(LedgerEngine.class)}, and each of its tests opens its
 * ledgers on a {@link TestDatabase} of its own, from {@link #freshDatabase}.
 */
public enum LedgerEngine {
  /** A new file in the test's temporary folder. */
  SQLITE {
    @Override
    public TestDatabase freshDatabase(Path folder, String name) {
      return new TestDatabase.SqliteFile(folder.resolve(name + ".db"));
    }
  },

  /** A new, empty database on the test JVM's throwaway server (or on METERD_TEST_PG_URL's). */
  POSTGRES {
    @Override
    public TestDatabase freshDatabase(Path folder, String name) {
      return new TestDatabase.Postgres(TestPostgres.freshDatabase());
    }
  };

  /** A database no test has used, in {@code folder} as {@code meterd.db} on SQLite. */
  public TestDatabase freshDatabase(Path folder) {
    return freshDatabase(folder, "meterd");
  }

  /**
   * A database no test has used; on SQLite, the file {@code name}.db in {@code folder} (the name
   * lets a test hold two databases), which must not exist yet.
   */
  public abstract TestDatabase freshDatabase(Path folder, String name);
}
