-- meterd ledger: a count of write transactions, for caches to notice another connection's commit.

-- One row. On PostgreSQL every write transaction of meterd adds one to it before its COMMIT, and
-- a connection that reads a number its own commits do not explain knows another one committed
-- (PostgreSQL has no PRAGMA data_version). SQLite keeps the table, unused, so that one schema
-- version means the same tables on both; its data_version already tells.
CREATE TABLE ledger_generation (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  generation INTEGER NOT NULL
);

INSERT INTO ledger_generation (id, generation) VALUES (1, 0);
