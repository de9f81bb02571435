-- meterd ledger: nodes claimed by leases, for several daemons sharing one database (issue 13).

-- Only PostgreSQL's daemons claim nodes: on SQLite one process runs at a time (the run lock), and
-- the tables stay empty, so that one schema version means the same tables on both. See the
-- PostgreSQL script for what each column means.
CREATE TABLE node_lease (
  node          TEXT PRIMARY KEY,
  holder        TEXT,
  epoch         INTEGER NOT NULL,
  expires_at_ms INTEGER NOT NULL
);

CREATE TABLE lease_log (
  seq    INTEGER PRIMARY KEY,
  node   TEXT NOT NULL,
  epoch  INTEGER NOT NULL,
  holder TEXT NOT NULL,
  event  TEXT NOT NULL CHECK (event IN ('claim', 'takeover', 'commit', 'halt', 'release')),
  at_ms  INTEGER NOT NULL
);

CREATE INDEX lease_log_node ON lease_log (node, seq);

CREATE TRIGGER lease_log_no_update BEFORE UPDATE ON lease_log
BEGIN
  SELECT RAISE(ABORT, 'lease_log is append-only');
END;

CREATE TRIGGER lease_log_no_delete BEFORE DELETE ON lease_log
BEGIN
  SELECT RAISE(ABORT, 'lease_log is append-only');
END;
