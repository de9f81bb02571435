-- meterd ledger: which ledger rows are whose, as a table of its own instead of the index
-- ledger_txn_by_wallet.
--
-- An index is written row by row, inside each node's savepoint: a node charging 600 shared
-- wallets touched 600 pages of the index, and SQLite copied each of them to the savepoint's
-- journal before changing it, node after node, in every group. That was a third of a run with
-- shared users. This table is written once per write transaction, just before COMMIT and in the
-- same transaction, in (wallet, transaction) order: each page once per group. Nothing reads it
-- inside a write; `verify` checks that it lists every ledger row once, under that row's wallet.
CREATE TABLE wallet_txn (
  wallet_id INTEGER NOT NULL,
  txn_id    INTEGER NOT NULL,
  PRIMARY KEY (wallet_id, txn_id)
) WITHOUT ROWID;

INSERT INTO wallet_txn (wallet_id, txn_id) SELECT wallet_id, txn_id FROM ledger_txn ORDER BY wallet_id, txn_id;

-- One row: the highest ledger row wallet_txn lists. A write transaction that wrote ledger rows
-- lists every row past it, then moves it: its own rows, and any that another writer committed
-- unlisted (a meterd of schema version 8 left running through the upgrade), so none stays out.
CREATE TABLE wallet_txn_mark (
  id               INTEGER PRIMARY KEY CHECK (id = 1),
  listed_to_txn_id INTEGER NOT NULL
);
INSERT INTO wallet_txn_mark (id, listed_to_txn_id) SELECT 1, coalesce(max(txn_id), 0) FROM ledger_txn;

DROP INDEX ledger_txn_by_wallet;

CREATE TRIGGER wallet_txn_no_update BEFORE UPDATE ON wallet_txn
BEGIN
  SELECT RAISE(ABORT, 'wallet_txn is append-only, as the ledger it lists');
END;

CREATE TRIGGER wallet_txn_no_delete BEFORE DELETE ON wallet_txn
BEGIN
  SELECT RAISE(ABORT, 'wallet_txn is append-only, as the ledger it lists');
END;
