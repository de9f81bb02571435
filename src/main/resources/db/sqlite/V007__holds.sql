-- meterd ledger: holds, credit reserved by a gateway or an edge node for work about to be done
-- (two-phase, as TigerBeetle's pending transfers). A hold lowers its wallet's available balance
-- while it is active and unexpired; it ends settled (its record, same node and idempotency_key,
-- was consumed: settled in that node's transaction, the charge being the record's own cost),
-- released (DELETE /v1/holds/{id}) or expired (by time alone: an active hold whose expires_at_ms
-- has passed no longer counts, and stays 'active' until settled or released).

CREATE TABLE hold (
  hold_id         INTEGER PRIMARY KEY,
  -- The wallet's user, not its id: a hold on a user without a wallet opens none (with
  -- enforcement off such a hold is placed; the wallet counts as balance 0).
  user_sid        TEXT NOT NULL CHECK (length(user_sid) BETWEEN 1 AND 200),
  amount_cents    INTEGER NOT NULL CHECK (typeof(amount_cents) = 'integer' AND amount_cents > 0),
  -- The record that will settle it: the node's name (the node may have no row yet) and the key.
  node            TEXT NOT NULL CHECK (length(node) BETWEEN 1 AND 64),
  idempotency_key TEXT NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 200),
  created_at      TEXT NOT NULL,
  expires_at_ms   INTEGER NOT NULL CHECK (typeof(expires_at_ms) = 'integer'),
  initiated_by    TEXT NOT NULL CHECK (length(initiated_by) > 0),
  state           TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'settled', 'released')),
  -- When it was settled or released, and who released it (null for a settlement: the aggregator).
  ended_at        TEXT,
  released_by     TEXT,
  CHECK ((state = 'active') = (ended_at IS NULL)),
  CHECK ((state = 'released') = (released_by IS NOT NULL)),
  -- One hold per record: the same node and key again is the same hold (idempotent).
  UNIQUE (node, idempotency_key)
);

-- What a wallet's active holds come to (authorize, and the decision of a new hold).
CREATE INDEX hold_active_by_user ON hold (user_sid, expires_at_ms) WHERE state = 'active';
-- Whether a node's write has holds to settle at all, read once per node's run.
CREATE INDEX hold_active_by_node ON hold (node) WHERE state = 'active';
