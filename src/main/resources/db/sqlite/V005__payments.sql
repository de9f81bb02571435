-- meterd ledger: payments, the top-ups and refunds that come from outside with the id their payer
-- gave them (an admin's payment_id, a payment provider's event id).
-- The primary key is the dedup: a payment id is credited at most once, ever, decided by the
-- database in the same transaction as its credit. Of two requests with one payment id, in any
-- process on this file, the second insert is refused and answers with the first one's transaction.

CREATE TABLE payment (
  payment_id   TEXT PRIMARY KEY CHECK (length(payment_id) BETWEEN 1 AND 200),
  -- The credit the payment made. The row is claimed before the credit is written, in the same
  -- transaction, so the reference is checked at COMMIT.
  txn_id       INTEGER NOT NULL UNIQUE REFERENCES ledger_txn (txn_id) DEFERRABLE INITIALLY DEFERRED,
  -- The payment as it was asked for: the same id again with another wallet, type or amount is
  -- refused, and verify checks that the transaction says the same.
  wallet_id    INTEGER NOT NULL REFERENCES wallet (wallet_id),
  type         TEXT NOT NULL CHECK (type IN ('topup', 'refund')),
  amount_cents INTEGER NOT NULL CHECK (typeof(amount_cents) = 'integer' AND amount_cents > 0),
  created_at   TEXT NOT NULL
) WITHOUT ROWID;

CREATE TRIGGER payment_no_update BEFORE UPDATE ON payment
BEGIN
  SELECT RAISE(ABORT, 'payment is append-only: a payment maps to its transaction for good');
END;

CREATE TRIGGER payment_no_delete BEFORE DELETE ON payment
BEGIN
  SELECT RAISE(ABORT, 'payment is append-only: a payment maps to its transaction for good');
END;
