-- meterd ledger, schema version 3: the Idempotency-Key of money-moving requests.
-- A key is claimed and answered in the same transaction as the write it guards, so a crash
-- leaves both or neither. The primary key decides between two requests with one key, in any
-- process on this database: the second insert is refused and reads what the first one answered.

CREATE TABLE idempotency_key (
  idem_key      TEXT PRIMARY KEY CHECK (length(idem_key) BETWEEN 1 AND 200),
  -- SHA-256 (hex) of the request: method, path and canonical body. The same key with another
  -- fingerprint is another request, and is refused.
  fingerprint   TEXT NOT NULL,
  -- Who sent the request that claimed the key (a token's name, or wallet grant's --by).
  initiated_by  TEXT NOT NULL,
  -- Milliseconds since the epoch: keys older than the retention are purged by later writes.
  created_at_ms BIGINT NOT NULL,
  -- What was answered, stored in the claiming transaction itself (never seen empty after it).
  status        BIGINT,
  response      TEXT,
  -- The ledger transaction the request wrote, when it wrote one.
  txn_id        BIGINT REFERENCES ledger_txn (txn_id),
  CHECK ((status IS NULL) = (response IS NULL))
);

CREATE INDEX idempotency_key_by_age ON idempotency_key (created_at_ms);
