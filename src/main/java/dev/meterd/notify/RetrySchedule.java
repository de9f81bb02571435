package dev.meterd.notify;

import java.time.Duration;
import java.time.Instant;
import java.util.Optional;

/**
 * When a failed delivery is tried again: exponential backoff with full jitter (a random delay
 * between nothing and a ceiling that doubles with each attempt, up to a cap), so that receivers
 * coming back after an outage are not hit by every sender at once; never sooner than a second, and
 * never later than the give-up time, at which one last attempt is made.
 *
 * @param base the first attempt's ceiling
 * @param cap the largest ceiling
 * @param giveUpAfter how long after an event was written a failed attempt gives its delivery up
 */
record RetrySchedule(Duration base, Duration cap, Duration giveUpAfter) {

  static final Duration DEFAULT_BASE = Duration.ofSeconds(5);
  static final Duration DEFAULT_CAP = Duration.ofHours(6);
  static final Duration MIN_DELAY = Duration.ofSeconds(1);

  static RetrySchedule giveUpAfter(Duration giveUpAfter) {
    return new RetrySchedule(DEFAULT_BASE, DEFAULT_CAP, giveUpAfter);
  }

  /** The ceiling of the delay after {@code attempts} failed attempts (from 1): base × 2^(attempts-1), capped. */
  long ceilingMs(int attempts) {
    int doublings = Math.max(0, attempts - 1);
    long ceiling = base.toMillis();
    for (int i = 0; i < doublings && ceiling < cap.toMillis(); i++) {
      ceiling *= 2;
    }
    return Math.min(ceiling, cap.toMillis());
  }

  /**
   * When to try again after a failed attempt, or empty to give up.
   *
   * @param createdAt when the event was written
   * @param attempts attempts made so far, this one included
   * @param now when this attempt failed
   * @param random uniform in [0, 1): where in [0, ceiling) the delay falls
   */
  Optional<Instant> next(Instant createdAt, int attempts, Instant now, double random) {
    Instant deadline = createdAt.plus(giveUpAfter);
    if (!now.isBefore(deadline)) {
      return Optional.empty();
    }
    long delayMs = Math.max(MIN_DELAY.toMillis(), (long) Math.floor(ceilingMs(attempts) * random));
    Instant next = now.plusMillis(delayMs);
    return Optional.of(next.isAfter(deadline) ? deadline : next);
  }
}
