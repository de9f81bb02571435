package dev.meterd.ledger;

/** The ledger's contract on a throwaway PostgreSQL database of its own for each test. */
class PostgresLedgerIT extends LedgerContractTests {

  @Override
  LedgerEngine engine() {
    return LedgerEngine.POSTGRES;
  }
}
