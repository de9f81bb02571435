-- meterd ledger: nodes claimed by leases, for several daemons sharing one database (issue 13).

-- One row per node ever claimed. A daemon holds a node while holder is its name and expires_at_ms
-- (milliseconds since 1970, by the database's clock) is in the future; epoch grows by one with
-- every claim, and the node's run writes only while the row still holds the epoch it claimed, so
-- a daemon that paused past its lease can never write after another took the node.
CREATE TABLE node_lease (
  node          TEXT PRIMARY KEY,
  holder        TEXT,
  epoch         BIGINT NOT NULL,
  expires_at_ms BIGINT NOT NULL
);

-- Every claim, and every end of a claim (the node's run committed, the node halted, the lease given
-- back), in the order the lease row saw them: each is written while holding that row's lock, so
-- the rows of one node follow one another as the claims did. Append-only: it is the proof that
-- no node was run by two daemons at once.
CREATE TABLE lease_log (
  seq    BIGSERIAL PRIMARY KEY,
  node   TEXT NOT NULL,
  epoch  BIGINT NOT NULL,
  holder TEXT NOT NULL,
  event  TEXT NOT NULL CHECK (event IN ('claim', 'takeover', 'commit', 'halt', 'release')),
  at_ms  BIGINT NOT NULL
);

CREATE INDEX lease_log_node ON lease_log (node, seq);

CREATE TRIGGER lease_log_no_update BEFORE UPDATE ON lease_log FOR EACH ROW
  EXECUTE FUNCTION refuse_change('lease_log is append-only');
CREATE TRIGGER lease_log_no_delete BEFORE DELETE ON lease_log FOR EACH ROW
  EXECUTE FUNCTION refuse_change('lease_log is append-only');
CREATE TRIGGER lease_log_no_truncate BEFORE TRUNCATE ON lease_log FOR EACH STATEMENT
  EXECUTE FUNCTION refuse_change('lease_log is append-only');
