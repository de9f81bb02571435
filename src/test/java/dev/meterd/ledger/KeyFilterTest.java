package dev.meterd.ledger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.HexFormat;
import java.util.SplittableRandom;
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

  /**
   * The bits a key sets are stored too: made by the first implementation (one division a probe),
   * a filter of 13 keys (192 bits, not a power of two) must keep these bytes.
   */
  @Test
  void theBitsAKeySetsAreTheOnesStoredFiltersWereMadeWith() {
    KeyFilter filter = KeyFilter.sized(13);
    for (int i = 0; i < 13; i++) {
      filter.add(i, "key-" + i);
    }
    assertThat(HexFormat.of().formatHex(filter.toBytes())).isEqualTo("e86247b16c90d14d120e2893c1264280f068380658360517");
  }

  /** Probe i of a hash is bit (hash + i x step, modulo 2^64) modulo the filter's bits, for any size. */
  @Test
  void setsExactlyTheProbesOfTheStoredDefinition() {
    SplittableRandom random = new SplittableRandom(12);
    for (long keys : new long[] {1, 7, 13, 100, 6_553, 65_536, 1_000_003}) {
      KeyFilter filter = KeyFilter.sized(keys);
      long bits = filter.toBytes().length * 8L;
      for (int n = 0; n < 2_000; n++) {
        long hash = n == 0 ? -1L : n == 1 ? 0L : random.nextLong();
        KeyFilter one = KeyFilter.sized(keys);
        one.add(hash);
        long[] expected = new long[(int) (bits / 64)];
        long step = stepOf(hash);
        for (int i = 0; i < KeyFilter.HASHES; i++) {
          long bit = Long.remainderUnsigned(hash + i * step, bits);
          expected[(int) (bit >>> 6)] |= 1L << bit;
        }
        assertThat(one.toBytes()).as("%d keys, hash %d", keys, hash).isEqualTo(bytesOf(expected));
        filter.add(hash);
        assertThat(filter.mayContain(hash)).isTrue();
      }
    }
  }

  /** KeyFilter's step, written out again: the second mix of the hash, odd. */
  private static long stepOf(long hash) {
    long h = hash ^ 0x9e3779b97f4a7c15L;
    h ^= h >>> 33;
    h *= 0xff51afd7ed558ccdL;
    h ^= h >>> 33;
    h *= 0xc4ceb9fe1a85ec53L;
    h ^= h >>> 33;
    return h | 1;
  }

  private static byte[] bytesOf(long[] words) {
    java.nio.ByteBuffer buffer = java.nio.ByteBuffer.allocate(words.length * 8).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    buffer.asLongBuffer().put(words);
    return buffer.array();
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
