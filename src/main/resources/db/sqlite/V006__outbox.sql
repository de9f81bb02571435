-- meterd ledger: the outbox of webhook events (issue 11).
-- An event is inserted by the write that causes it, in that write's transaction, so it commits
-- or rolls back with it: a crash can neither lose an event nor leave one for a write that did
-- not happen. The delivery worker reads the rows afterwards. The body is fixed when the event is
-- written and sent byte for byte on every attempt, under the same event_id.

CREATE TABLE outbox_event (
  -- Delivery order: events go out in the order they were written.
  event_seq          INTEGER PRIMARY KEY,
  -- The webhook-id of every attempt: receivers deduplicate on it.
  event_id           TEXT NOT NULL UNIQUE CHECK (substr(event_id, 1, 4) = 'evt_'),
  type               TEXT NOT NULL CHECK (length(type) > 0),
  created_at_ms      INTEGER NOT NULL,
  -- The JSON {"type","id","created_at","data"} that is posted.
  body               TEXT NOT NULL,
  status             TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
  -- Attempts started: an attempt is counted when the worker claims the event, before it posts.
  attempts           INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  -- When a pending event is next due; while an attempt is in flight, when its claim lapses.
  next_attempt_at_ms INTEGER NOT NULL,
  last_attempt_at_ms INTEGER,
  last_error         TEXT,
  -- The HTTP status the receiver last answered, or NULL when it did not answer.
  last_status_code   INTEGER,
  delivered_at_ms    INTEGER,
  failed_at_ms       INTEGER,
  -- The admin who last asked for a retry, and when.
  retried_by         TEXT,
  retried_at_ms      INTEGER,
  CHECK ((status = 'delivered') = (delivered_at_ms IS NOT NULL)),
  CHECK ((status = 'failed') = (failed_at_ms IS NOT NULL))
);

-- The worker's poll: the pending events that are due, oldest first.
CREATE INDEX outbox_event_due ON outbox_event (next_attempt_at_ms, event_seq) WHERE status = 'pending';
