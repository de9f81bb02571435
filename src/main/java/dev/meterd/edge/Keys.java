package dev.meterd.edge;

import java.security.SecureRandom;
import java.time.Clock;
import java.util.UUID;

/**
 * New idempotency keys: UUID version 7 (RFC 9562), whose first 48 bits are the Unix time in
 * milliseconds, so keys sort by creation time. A consumed-record index takes such keys at its
 * right edge instead of at random pages. Within one millisecond a counter in the 12 bits after
 * the version keeps them increasing; 62 random bits keep writers apart.
 */
public final class Keys {

  private final Clock clock;
  private final SecureRandom random = new SecureRandom();
  private long lastMillis = -1;
  private int counter;

  public Keys(Clock clock) {
    this.clock = clock;
  }

  public synchronized String next() {
    long millis = Math.max(clock.millis(), lastMillis);
    if (millis == lastMillis) {
      counter++;
      if (counter > 0xFFF) {
        millis++;
        counter = 0;
      }
    } else {
      counter = random.nextInt(0x800);
    }
    lastMillis = millis;
    long high = (millis << 16) | 0x7000L | counter;
    long low = (random.nextLong() & 0x3FFFFFFFFFFFFFFFL) | 0x8000000000000000L;
    return new UUID(high, low).toString();
  }
}
