-- meterd ledger, schema version 1. Released migrations are never edited; changes are new files.
-- Amounts are integer minor units. typeof() checks stop SQLite from silently turning an
-- overflowing integer into a REAL.

CREATE TABLE node (
  node_id                INTEGER PRIMARY KEY,
  name                   TEXT NOT NULL UNIQUE,
  -- The newest commit touching nodes/<name>/ as of the node's last successful run.
  last_commit_sha        TEXT,
  -- The tree id of nodes/<name>/ at last_commit_sha: what the next run diffs against.
  tree_id                TEXT,
  status                 TEXT NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'halted')),
  error_kind             TEXT CHECK (error_kind IN ('content', 'transient')),
  error_file             TEXT,
  error_line             INTEGER,
  error_message          TEXT,
  halted_since           TEXT,
  -- The folder's tree id when a content error halted it: unchanged means still halted.
  halted_tree_id         TEXT,
  warning                TEXT,
  last_run_at            TEXT,
  records_consumed_total INTEGER NOT NULL DEFAULT 0,
  CHECK ((status = 'ok' AND error_kind IS NULL AND halted_since IS NULL)
      OR (status = 'halted' AND error_kind IS NOT NULL AND error_message IS NOT NULL AND halted_since IS NOT NULL))
);

CREATE INDEX node_halted ON node (name) WHERE status = 'halted';

CREATE TABLE wallet (
  wallet_id     INTEGER PRIMARY KEY,
  user_sid      TEXT NOT NULL UNIQUE,
  balance_cents INTEGER NOT NULL CHECK (typeof(balance_cents) = 'integer'),
  created_at    TEXT NOT NULL,
  updated_at    TEXT NOT NULL
);

-- Append-only: the triggers below refuse UPDATE and DELETE, and row_hash chains every row to
-- the one before it, so that `meterd verify` can prove no row was changed.
CREATE TABLE ledger_txn (
  txn_id         INTEGER PRIMARY KEY,
  wallet_id      INTEGER NOT NULL REFERENCES wallet (wallet_id),
  type           TEXT NOT NULL CHECK (type IN ('charge', 'grant', 'topup', 'refund')),
  amount_cents   INTEGER NOT NULL CHECK (typeof(amount_cents) = 'integer'),
  occurred_at    TEXT NOT NULL,
  initiated_by   TEXT NOT NULL CHECK (length(initiated_by) > 0),
  source_node_id INTEGER REFERENCES node (node_id),
  source_commit  TEXT,
  source_records INTEGER,
  note           TEXT,
  row_hash       TEXT NOT NULL,
  -- A charge debits (records that all cost 0 make a charge of 0, so that every consumed record
  -- points at a transaction); grants, top-ups and refunds credit.
  CHECK ((type = 'charge' AND amount_cents <= 0 AND source_node_id IS NOT NULL
          AND source_commit IS NOT NULL AND source_records > 0)
      OR (type <> 'charge' AND amount_cents > 0 AND source_node_id IS NULL))
);
CREATE INDEX ledger_txn_by_wallet ON ledger_txn (wallet_id, txn_id);

CREATE TRIGGER ledger_txn_no_update BEFORE UPDATE ON ledger_txn
BEGIN
  SELECT RAISE(ABORT, 'ledger_txn is append-only: corrections are new transactions');
END;

CREATE TRIGGER ledger_txn_no_delete BEFORE DELETE ON ledger_txn
BEGIN
  SELECT RAISE(ABORT, 'ledger_txn is append-only: corrections are new transactions');
END;

-- File paths are stored once and referenced by id, to keep consumed records narrow.
CREATE TABLE source_file (
  file_id INTEGER PRIMARY KEY,
  node_id INTEGER NOT NULL REFERENCES node (node_id),
  path    TEXT NOT NULL,
  UNIQUE (node_id, path)
);

-- The consumed-record index. The primary key is the dedup: a record is consumed at most once,
-- ever, enforced by the database in the same transaction as its debit.
CREATE TABLE consumed_record (
  node_id         INTEGER NOT NULL,
  idempotency_key TEXT NOT NULL,
  wallet_id       INTEGER NOT NULL,
  cost_cents      INTEGER NOT NULL CHECK (cost_cents >= 0),
  occurred_at_ms  INTEGER NOT NULL,
  txn_id          INTEGER NOT NULL,
  file_id         INTEGER NOT NULL,
  resource        TEXT,
  quantity        INTEGER,
  PRIMARY KEY (node_id, idempotency_key)
) WITHOUT ROWID;

CREATE TRIGGER consumed_record_no_update BEFORE UPDATE ON consumed_record
BEGIN
  SELECT RAISE(ABORT, 'consumed_record is append-only');
END;

CREATE TRIGGER consumed_record_no_delete BEFORE DELETE ON consumed_record
BEGIN
  SELECT RAISE(ABORT, 'consumed_record is append-only');
END;

-- One row: the branch tip of the last run that saw every node settled, so that a poll with an
-- unchanged tip reads nothing else.
CREATE TABLE run_mark (
  id          INTEGER PRIMARY KEY CHECK (id = 1),
  full_tip    TEXT,
  -- How many node folders that run saw, for the summary of a poll that reads nothing.
  nodes_total INTEGER NOT NULL DEFAULT 0
);
INSERT INTO run_mark (id, full_tip, nodes_total) VALUES (1, NULL, 0);
