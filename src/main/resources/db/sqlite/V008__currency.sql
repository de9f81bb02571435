-- meterd ledger: the ledger's currency, and the payments it received but could not credit.

-- One row: what the ledger's cents are cents of. Written when the ledger is first opened (a
-- ledger upgraded from an earlier version adopts the configured [billing] currency then); a
-- ledger opened with another [billing] currency is refused, since every balance would silently
-- be read as the other currency's.
CREATE TABLE ledger_meta (
  id                   INTEGER PRIMARY KEY CHECK (id = 1),
  -- ISO 4217, upper case.
  currency             TEXT NOT NULL CHECK (length(currency) = 3 AND currency = upper(currency)),
  currency_recorded_at TEXT NOT NULL
);

CREATE TRIGGER ledger_meta_currency_no_update BEFORE UPDATE OF currency ON ledger_meta
BEGIN
  SELECT RAISE(ABORT, 'the ledger''s currency is set once: its balances are counted in it');
END;

CREATE TRIGGER ledger_meta_no_delete BEFORE DELETE ON ledger_meta
BEGIN
  SELECT RAISE(ABORT, 'the ledger''s currency is set once: its balances are counted in it');
END;

-- A provider's payment that arrived (the money is with the provider) but that meterd does not
-- credit by itself: its amount is not in the ledger's cents (another currency, or ISK, which
-- Stripe writes in hundredths while the ledger counts whole kronur). It credits no wallet; an
-- admin handles it by hand (a refund with the provider, or a top-up of what it is worth).
-- The event id is the dedup: a redelivered event is kept once, decided by the database.
CREATE TABLE unapplied_payment (
  unapplied_id      INTEGER PRIMARY KEY,
  event_id          TEXT NOT NULL UNIQUE CHECK (length(event_id) BETWEEN 1 AND 200),
  payment_intent_id TEXT,
  -- The wallet its metadata named (a payment that names none is for no wallet and is not kept).
  user_sid          TEXT NOT NULL CHECK (length(user_sid) BETWEEN 1 AND 200),
  -- As the provider gave it: an integer in the smallest unit of its currency, not the ledger's cents.
  amount            INTEGER NOT NULL CHECK (typeof(amount) = 'integer' AND amount > 0),
  currency          TEXT NOT NULL CHECK (length(currency) = 3 AND currency = upper(currency)),
  reason            TEXT NOT NULL CHECK (length(reason) > 0),
  received_at       TEXT NOT NULL
);

CREATE TRIGGER unapplied_payment_no_update BEFORE UPDATE ON unapplied_payment
BEGIN
  SELECT RAISE(ABORT, 'unapplied_payment is append-only: it is the record of money received');
END;

CREATE TRIGGER unapplied_payment_no_delete BEFORE DELETE ON unapplied_payment
BEGIN
  SELECT RAISE(ABORT, 'unapplied_payment is append-only: it is the record of money received');
END;
