package dev.meterd.ledger;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A Bloom filter of consumed records' (node, key) pairs: {@link #mayContain} is false only for a
 * pair never {@link #add added}, and true for about 1 % of the others (10 bits and 7 hashes a
 * key). A sealed segment of the consumed-record index keeps one ({@link ConsumedSegments}), so
 * that a new key is told absent from it without reading the segment.
 *
 * <p>Its bits are stored with the segment: {@link #hash} must never change, or every stored filter
 * would miss the keys it holds and a record consumed before would be consumed again.
 * {@code KeyFilterTest} pins it.
 */
final class KeyFilter {

  static final int BITS_PER_KEY = 10;
  static final int HASHES = 7;

  private final long[] words;
  private final long bits;
  private final int hashes;
  /** 2^64 mod {@link #bits}: what a probe loses, modulo the bits, when its sum passes 2^64. */
  private final long wrap;

  private KeyFilter(long[] words, int hashes) {
    this.words = words;
    this.bits = (long) words.length * Long.SIZE;
    this.hashes = hashes;
    this.wrap = (Long.remainderUnsigned(-1L, bits) + 1) % bits;
  }

  /** An empty filter for {@code keys} keys. */
  static KeyFilter sized(long keys) {
    long wanted = Math.multiplyExact(Math.max(keys, 1), BITS_PER_KEY);
    long words = (wanted + Long.SIZE - 1) / Long.SIZE;
    if (words > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException("a filter of " + keys + " keys is more than one array can hold");
    }
    return new KeyFilter(new long[(int) words], HASHES);
  }

  /** The filter stored as {@link #toBytes}, with its number of hashes. */
  static KeyFilter fromBytes(byte[] bytes, int hashes) {
    if (bytes.length == 0 || bytes.length % Long.BYTES != 0 || hashes < 1) {
      throw new IllegalArgumentException("a stored key filter of " + bytes.length + " bytes and " + hashes
          + " hashes is not one meterd wrote");
    }
    long[] words = new long[bytes.length / Long.BYTES];
    ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asLongBuffer().get(words);
    return new KeyFilter(words, hashes);
  }

  byte[] toBytes() {
    ByteBuffer buffer = ByteBuffer.allocate(words.length * Long.BYTES).order(ByteOrder.LITTLE_ENDIAN);
    buffer.asLongBuffer().put(words);
    return buffer.array();
  }

  int hashes() {
    return hashes;
  }

  void add(long nodeId, String key) {
    add(hash(nodeId, key));
  }

  /**
   * Sets the bits of probes {@code hash}, {@code hash + step}, ... (sums modulo 2^64), each taken
   * modulo the filter's bits, which {@link #mayContain(long)} reads.
   */
  void add(long hash) {
    probe(hash, true);
  }

  boolean mayContain(long nodeId, String key) {
    return mayContain(hash(nodeId, key));
  }

  /** As {@link #mayContain(long, String)}, given the pair's {@link #hash}: one hash serves every segment. */
  boolean mayContain(long hash) {
    return probe(hash, false);
  }

  /**
   * Visits the {@link #hashes} probes of {@code hash}: sets each bit ({@code set}), or tells
   * whether all are set. The remainders are carried from one probe to the next rather than divided
   * out again: two divisions a key instead of one a probe, the same bits.
   */
  private boolean probe(long hash, boolean set) {
    long step = step(hash);
    long stepBit = Long.remainderUnsigned(step, bits);
    long probe = hash;
    long bit = Long.remainderUnsigned(probe, bits);
    for (int i = 0; i < hashes; i++) {
      long mask = 1L << bit;
      int word = (int) (bit >>> 6);
      if (set) {
        words[word] |= mask;
      } else if ((words[word] & mask) == 0) {
        return false;
      }
      long next = probe + step;
      bit += stepBit;
      if (bit >= bits) {
        bit -= bits;
      }
      if (Long.compareUnsigned(next, probe) < 0) {
        // The sum passed 2^64: the probe is 2^64 less than the true sum.
        bit -= wrap;
        if (bit < 0) {
          bit += bits;
        }
      }
      probe = next;
    }
    return true;
  }

  /**
   * The pair's 64-bit hash: FNV-1a over the node id's and the key's UTF-16 code units, then
   * MurmurHash3's finalizer. Stored filters depend on it bit for bit.
   */
  static long hash(long nodeId, String key) {
    long h = 0xcbf29ce484222325L;
    for (int shift = 0; shift < Long.SIZE; shift += 16) {
      h = (h ^ ((nodeId >>> shift) & 0xffff)) * 0x100000001b3L;
    }
    for (int i = 0; i < key.length(); i++) {
      h = (h ^ key.charAt(i)) * 0x100000001b3L;
    }
    return mix(h);
  }

  /** The distance between probes (double hashing), from a second mix of the hash; never zero. */
  private static long step(long hash) {
    return mix(hash ^ 0x9e3779b97f4a7c15L) | 1;
  }

  private static long mix(long h) {
    h ^= h >>> 33;
    h *= 0xff51afd7ed558ccdL;
    h ^= h >>> 33;
    h *= 0xc4ceb9fe1a85ec53L;
    h ^= h >>> 33;
    return h;
  }
}
