-- meterd ledger: a count of write transactions, for caches to notice another connection's commit.

-- One row. Every write transaction of meterd adds one to it before its COMMIT, and a connection
-- that reads a number its own commits do not explain knows another one committed (PostgreSQL has
-- no PRAGMA data_version). Writes hold the ledger's advisory lock, so they add one at a time.
CREATE TABLE ledger_generation (
  id         BIGINT PRIMARY KEY CHECK (id = 1),
  generation BIGINT NOT NULL
);

INSERT INTO ledger_generation (id, generation) VALUES (1, 0);
