package dev.meterd.notify;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class RetryScheduleTest {

  private static final Instant CREATED = Instant.parse("2026-11-21T10:00:00Z");
  private final RetrySchedule schedule = RetrySchedule.giveUpAfter(Duration.ofDays(3));

  @Test
  void theCeilingDoublesFromFiveSecondsUpToSixHours() {
    assertThat(schedule.ceilingMs(1)).isEqualTo(5_000);
    assertThat(schedule.ceilingMs(2)).isEqualTo(10_000);
    assertThat(schedule.ceilingMs(3)).isEqualTo(20_000);
    assertThat(schedule.ceilingMs(13)).isEqualTo(5_000L << 12);
    assertThat(schedule.ceilingMs(14)).isEqualTo(Duration.ofHours(6).toMillis());
    assertThat(schedule.ceilingMs(Integer.MAX_VALUE)).isEqualTo(Duration.ofHours(6).toMillis());
  }

  @Test
  void theDelayIsAFractionOfTheCeilingButAtLeastASecond() {
    Instant now = CREATED.plusSeconds(60);
    assertThat(schedule.next(CREATED, 3, now, 0.5)).contains(now.plusMillis(10_000));
    assertThat(schedule.next(CREATED, 3, now, 0.999_99)).contains(now.plusMillis(19_999));
    assertThat(schedule.next(CREATED, 3, now, 0.0)).contains(now.plusSeconds(1));
  }

  @Test
  void theLastAttemptIsAtTheGiveUpTimeAndAFailureThenGivesUp() {
    Instant deadline = CREATED.plus(Duration.ofDays(3));
    Instant late = deadline.minusSeconds(10);
    assertThat(schedule.next(CREATED, 20, late, 0.9)).contains(deadline);
    assertThat(schedule.next(CREATED, 21, deadline, 0.9)).isEqualTo(Optional.empty());
    assertThat(schedule.next(CREATED, 22, deadline.plusSeconds(1), 0.1)).isEqualTo(Optional.empty());
  }
}
