-- meterd ledger, schema version 4: prepaid credit policies. Every decision is written in the
-- transaction of the write that causes it (a node's charges, a grant, a settings change).

-- A wallet's policy, each amount in cents, 0 meaning off.
ALTER TABLE wallet ADD COLUMN monthly_budget_cents INTEGER NOT NULL DEFAULT 0
  CHECK (typeof(monthly_budget_cents) = 'integer' AND monthly_budget_cents >= 0);
ALTER TABLE wallet ADD COLUMN daily_cap_cents INTEGER NOT NULL DEFAULT 0
  CHECK (typeof(daily_cap_cents) = 'integer' AND daily_cap_cents >= 0);
ALTER TABLE wallet ADD COLUMN auto_topup_threshold_cents INTEGER NOT NULL DEFAULT 0
  CHECK (typeof(auto_topup_threshold_cents) = 'integer' AND auto_topup_threshold_cents >= 0);
ALTER TABLE wallet ADD COLUMN auto_topup_amount_cents INTEGER NOT NULL DEFAULT 0
  CHECK (typeof(auto_topup_amount_cents) = 'integer' AND auto_topup_amount_cents >= 0);
ALTER TABLE wallet ADD COLUMN enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1));

-- Every change of a wallet's policy: who, when, the settings before and after (JSON).
CREATE TABLE wallet_settings_change (
  change_id    INTEGER PRIMARY KEY,
  wallet_id    INTEGER NOT NULL REFERENCES wallet (wallet_id),
  changed_at   TEXT NOT NULL,
  initiated_by TEXT NOT NULL CHECK (length(initiated_by) > 0),
  old_settings TEXT NOT NULL,
  new_settings TEXT NOT NULL
);
CREATE INDEX wallet_settings_change_by_wallet ON wallet_settings_change (wallet_id, change_id);

-- What a record's cost was not charged because of its wallet's daily cap: it was charged
-- cost_cents - waived_cents.
ALTER TABLE consumed_record ADD COLUMN waived_cents INTEGER NOT NULL DEFAULT 0
  CHECK (typeof(waived_cents) = 'integer' AND waived_cents >= 0 AND waived_cents <= cost_cents);

-- A wallet's usage per UTC day of the records' occurred_at, moved in the charge's transaction:
-- what was charged and what was waived. The cycle's spend (a UTC month) is the sum of its days.
CREATE TABLE daily_spend (
  wallet_id     INTEGER NOT NULL REFERENCES wallet (wallet_id),
  day           TEXT NOT NULL,
  charged_cents INTEGER NOT NULL CHECK (typeof(charged_cents) = 'integer' AND charged_cents >= 0),
  waived_cents  INTEGER NOT NULL CHECK (typeof(waived_cents) = 'integer' AND waived_cents >= 0),
  PRIMARY KEY (wallet_id, day)
) WITHOUT ROWID;

-- The counters of the usage consumed before this version (nothing was waived then): without them
-- a cap would be applied to a day from zero, an alert would miss the month's earlier spend, and
-- verify would find every day short. The day is floored as Java's Math.floorDiv floors it. A sum
-- past 64 bits makes SQLite's sum() fail, and the upgrade with it, rather than count it wrong.
INSERT INTO daily_spend (wallet_id, day, charged_cents, waived_cents)
SELECT wallet_id,
       date((occurred_at_ms - ((occurred_at_ms % 86400000) + 86400000) % 86400000) / 1000, 'unixepoch') AS day,
       sum(cost_cents), 0
FROM consumed_record GROUP BY wallet_id, day;

-- Budget alerts: at most one per wallet, threshold and cycle, ever (the primary key), with the
-- spend and budget when it fired. as_of_txn_id is the newest ledger transaction then: the spend
-- is exactly what the wallet's records of the cycle were charged in transactions up to it.
CREATE TABLE budget_alert (
  wallet_id     INTEGER NOT NULL REFERENCES wallet (wallet_id),
  cycle         TEXT NOT NULL CHECK (length(cycle) = 7),
  threshold_pct INTEGER NOT NULL CHECK (threshold_pct > 0),
  spent_cents   INTEGER NOT NULL,
  budget_cents  INTEGER NOT NULL CHECK (budget_cents > 0),
  fired_at      TEXT NOT NULL,
  as_of_txn_id  INTEGER NOT NULL,
  PRIMARY KEY (wallet_id, cycle, threshold_pct)
) WITHOUT ROWID;
CREATE INDEX budget_alert_by_cycle ON budget_alert (cycle, fired_at);

-- Auto top-up: a write that leaves a wallet's balance below its threshold requests one top-up; the
-- request stays open (and no other is made) until a credit lifts the balance back to the threshold.
-- The partial unique index makes "one open request per wallet" the database's rule.
CREATE TABLE topup_request (
  request_id    INTEGER PRIMARY KEY,
  wallet_id     INTEGER NOT NULL REFERENCES wallet (wallet_id),
  requested_at  TEXT NOT NULL,
  amount_cents  INTEGER NOT NULL CHECK (amount_cents > 0),
  balance_cents INTEGER NOT NULL,
  threshold_cents INTEGER NOT NULL CHECK (threshold_cents > 0),
  lifted_at     TEXT,
  lifted_by_txn_id INTEGER REFERENCES ledger_txn (txn_id)
);
CREATE UNIQUE INDEX topup_request_open ON topup_request (wallet_id) WHERE lifted_at IS NULL;
