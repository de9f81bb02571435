package dev.meterd.ledger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.UUID;
import org.junit.jupiter.api.Test;

class KeyFilterTest {

  /**
   * Every stored filter depends on the hash bit for bit: these values come from a separate
   * implementation of it (FNV-1a over the node id's and the key's UTF-16 units, MurmurHash3's
   * finalizer, in Python), so a change of the hash fails here before it makes stored filters
   * miss the keys they hold.
   */
  @Test
  void theHashIsTheOneStoredFiltersWereMadeWith() {
    assertThat(KeyFilter.hash(1, "k1")).isEqualTo(-5864682202790610614L);
    assertThat(KeyFilter.hash(42, "0192f7a8-5c3e-7d4b-9e2f-1a2b3c4d5e6f")).isEqualTo(6801934714796930113L);
    assertThat(KeyFilter.hash(7, "")).isEqualTo(3627620311911241270L);
    assertThat(KeyFilter.hash(3, "é€😀")).isEqualTo(7051961251281746199L);
  }

  @Test
  void holdsEveryKeyAddedAndFewOthers() {
    int keys = 100_000;
    KeyFilter filter = KeyFilter.sized(keys);
    for (int i = 0; i < keys; i++) {
      filter.add(i % 7, new UUID(i, 1).toString());
    }
    for (int i = 0; i < keys; i++) {
      assertThat(filter.mayContain(i % 7, new UUID(i, 1).toString())).isTrue();
    }
    int falsePositives = 0;
    for (int i = 0; i < keys; i++) {
      // Other keys, and the same keys under another node.
      if (filter.mayContain(i % 7, new UUID(i, 2).toString()) || filter.mayContain(7 + i % 7, new UUID(i, 1).toString())) {
        falsePositives++;
      }
    }
    // About 0.8 % each for 10 bits and 7 hashes a key: 2 x 0.8 % of 100,000 is about 1,600.
    assertThat(falsePositives).isBetween(1_000, 2_400);
  }

  @Test
  void readsBackAsStored() {
    KeyFilter filter = KeyFilter.sized(3);
    filter.add(1, "a");
    filter.add(2, "b");
    KeyFilter stored = KeyFilter.fromBytes(filter.toBytes(), filter.hashes());
    assertThat(stored.toBytes()).isEqualTo(filter.toBytes());
    assertThat(stored.mayContain(1, "a")).isTrue();
    assertThat(stored.mayContain(2, "b")).isTrue();
    assertThat(filter.toBytes()).hasSize(8);
  }

  @Test
  void refusesBytesItDidNotWrite() {
    assertThatThrownBy(() -> KeyFilter.fromBytes(new byte[0], 7))
        .hasMessage("a stored key filter of 0 bytes and 7 hashes is not one meterd wrote");
    assertThatThrownBy(() -> KeyFilter.fromBytes(new byte[12], 7))
        .hasMessage("a stored key filter of 12 bytes and 7 hashes is not one meterd wrote");
    assertThatThrownBy(() -> KeyFilter.fromBytes(new byte[8], 0))
        .hasMessage("a stored key filter of 8 bytes and 0 hashes is not one meterd wrote");
  }
}
