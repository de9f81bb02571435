-- meterd ledger: payments, the top-ups and refunds that come from outside with the id their payer
-- gave them (an admin's payment_id, a payment provider's event id).
-- The primary key is the dedup: a payment id is credited at most once, ever, decided by the
-- database in the same transaction as its credit. Of two requests with one payment id, in any
-- process on this database, the second insert is refused and answers with the first one's
-- transaction.

CREATE TABLE payment (
  payment_id   TEXT PRIMARY KEY CHECK (length(payment_id) BETWEEN 1 AND 200),
  -- The credit the payment made. The row is claimed before the credit is written, in the same
  -- transaction, so the reference is checked at COMMIT.
  txn_id       BIGINT NOT NULL UNIQUE REFERENCES ledger_txn (txn_id) DEFERRABLE INITIALLY DEFERRED,
  -- The payment as it was asked for: the same id again with another wallet, type or amount is
  -- refused, and verify checks that the transaction says the same.
  wallet_id    BIGINT NOT NULL REFERENCES wallet (wallet_id),
  type         TEXT NOT NULL CHECK (type IN ('topup', 'refund')),
  amount_cents BIGINT NOT NULL CHECK (amount_cents > 0),
  created_at   TEXT NOT NULL
);

CREATE TRIGGER payment_no_update BEFORE UPDATE ON payment FOR EACH ROW
  EXECUTE FUNCTION refuse_change('payment is append-only: a payment maps to its transaction for good');
CREATE TRIGGER payment_no_delete BEFORE DELETE ON payment FOR EACH ROW
  EXECUTE FUNCTION refuse_change('payment is append-only: a payment maps to its transaction for good');
CREATE TRIGGER payment_no_truncate BEFORE TRUNCATE ON payment FOR EACH STATEMENT
  EXECUTE FUNCTION refuse_change('payment is append-only: a payment maps to its transaction for good');
