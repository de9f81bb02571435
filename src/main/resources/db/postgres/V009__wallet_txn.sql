-- meterd ledger: which ledger rows are whose, as a table of its own instead of the index
-- ledger_txn_by_wallet.
--
-- On SQLite the index, written row by row inside each node's savepoint, had every page it touched
-- copied to the savepoint's journal, node after node; this table is written once per write
-- transaction, just before COMMIT and in the same transaction, in (wallet, transaction) order.
-- PostgreSQL keeps the same table so that one schema version means the same tables on both:
-- nothing reads it inside a write; `verify` checks that it lists every ledger row once, under that
-- row's wallet.
CREATE TABLE wallet_txn (
  wallet_id BIGINT NOT NULL,
  txn_id    BIGINT NOT NULL,
  PRIMARY KEY (wallet_id, txn_id)
);

INSERT INTO wallet_txn (wallet_id, txn_id) SELECT wallet_id, txn_id FROM ledger_txn ORDER BY wallet_id, txn_id;

-- One row: the highest ledger row wallet_txn lists. A write transaction that wrote ledger rows
-- lists every row past it, then moves it: its own rows, and any that another writer committed
-- unlisted (a meterd of schema version 8 left running through the upgrade), so none stays out.
CREATE TABLE wallet_txn_mark (
  id               BIGINT PRIMARY KEY CHECK (id = 1),
  listed_to_txn_id BIGINT NOT NULL
);
INSERT INTO wallet_txn_mark (id, listed_to_txn_id) SELECT 1, coalesce(max(txn_id), 0) FROM ledger_txn;

DROP INDEX ledger_txn_by_wallet;

CREATE TRIGGER wallet_txn_no_update BEFORE UPDATE ON wallet_txn FOR EACH ROW
  EXECUTE FUNCTION refuse_change('wallet_txn is append-only, as the ledger it lists');
CREATE TRIGGER wallet_txn_no_delete BEFORE DELETE ON wallet_txn FOR EACH ROW
  EXECUTE FUNCTION refuse_change('wallet_txn is append-only, as the ledger it lists');
CREATE TRIGGER wallet_txn_no_truncate BEFORE TRUNCATE ON wallet_txn FOR EACH STATEMENT
  EXECUTE FUNCTION refuse_change('wallet_txn is append-only, as the ledger it lists');
