package dev.meterd.ledger;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * The bytes a ledger row's hash covers never change: every ledger already written holds hashes
 * made from them, and {@code verify} recomputes them. The other tests hash and check with the same
 * code, so they would not see a change; these pin the hashes meterd writes, for a charge and for a
 * credit with every nullable field null, a long note and characters of 2, 3 and 4 UTF-8 bytes.
 */
class TxnHashTest {

  @Test
  void aChargesHashIsTheOneLedgersAlreadyHold() {
    assertThat(TxnHash.of(TxnHash.GENESIS, new SqliteWalletRows.Txn(1, 1, TxnType.CHARGE, -4_000,
        "2026-11-21T10:00:00Z", "aggregator", 1L, "c0ffee", 2, null)))
        .isEqualTo("dedfc5733cf9bc4857247e5a8248378eb93a1be58299a6f63d0172c7f6eeb219");
  }

  @Test
  void aCreditsHashWithNullFieldsAndALongNoteIsTheOneLedgersAlreadyHold() {
    assertThat(TxnHash.of("ab".repeat(32), new SqliteWalletRows.Txn(9_007_199_254_740_993L, 42, TxnType.GRANT,
        Long.MAX_VALUE, "2026-11-21T10:00:00.123Z", "alice@example.com", null, null, null,
        "café ☕ 𝄞 " + "x".repeat(600))))
        .isEqualTo("cdde3ff90e219b28419882e9f66e5d46fa3d58184cd2f002799aa77138fecb8b");
  }
}
