-- meterd ledger: the consumed-record index in levels (issue 12, growth).
--
-- A random key lands on a page of its own in one large index, so once the index outgrew the page
-- cache every record dirtied a page, written to the WAL and again by the checkpoint. Now the table
-- that takes new records, consumed_newest, is only the newest level: small, so a group's inserts
-- dirty few pages of it. Once it holds enough rows it is sealed (renamed, never written again)
-- into a segment, consumed_segment_N, listed in consumed_segment with a filter of its keys (a
-- Bloom filter: a key not in the segment is told so without reading it); segments of one tier
-- are merged, in key order, into one of the next. A record is consumed once across all levels: a
-- key is looked up in every level before it is consumed, and verify checks that no key is held
-- twice. consumed_record is now a view of every level, made again whenever the segments change:
-- what read the table reads the view, and a meterd of an earlier version left running through
-- the upgrade cannot insert into it (its group fails and is retried by this version), rather than
-- consume again a record a segment holds.
CREATE TABLE consumed_segment (
  segment_id     INTEGER PRIMARY KEY AUTOINCREMENT,
  tier           INTEGER NOT NULL CHECK (tier >= 0),
  rows           INTEGER NOT NULL CHECK (rows > 0),
  filter_hashes  INTEGER NOT NULL CHECK (filter_hashes > 0),
  filter         BLOB NOT NULL
);

-- A merge in progress. Its segment is written in chunks, each a transaction of its own, so that the
-- write lock is never held for long; until the last chunk it is not read (nor part of
-- consumed_record), and a merge cut off is taken up where it stopped.
CREATE TABLE consumed_merge (
  segment_id   INTEGER PRIMARY KEY REFERENCES consumed_segment (segment_id),
  -- The ids of the segments merged, comma-separated.
  inputs       TEXT NOT NULL,
  rows_done    INTEGER NOT NULL CHECK (rows_done >= 0),
  -- The last record written so far, in key order; null before the first chunk.
  last_node_id INTEGER,
  last_key     TEXT
);

DROP TRIGGER consumed_record_no_update;
DROP TRIGGER consumed_record_no_delete;
ALTER TABLE consumed_record RENAME TO consumed_newest;

CREATE TRIGGER consumed_newest_no_update BEFORE UPDATE ON consumed_newest
BEGIN
  SELECT RAISE(ABORT, 'consumed_record is append-only');
END;

CREATE TRIGGER consumed_newest_no_delete BEFORE DELETE ON consumed_newest
BEGIN
  SELECT RAISE(ABORT, 'consumed_record is append-only');
END;

CREATE VIEW consumed_record AS
  SELECT node_id, idempotency_key, wallet_id, cost_cents, occurred_at_ms, txn_id, file_id, resource, quantity,
    waived_cents FROM consumed_newest;
