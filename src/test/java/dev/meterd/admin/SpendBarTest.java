package dev.meterd.admin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.math.BigInteger;
import java.util.List;
import org.junit.jupiter.api.Test;

class SpendBarTest {

  private static final List<Integer> MARKS = List.of(50, 80, 100);

  @Test
  void aSpendWithinItsLimitFillsItsShareOfTheTrackWithTheMarksAtTheirPercentages() {
    SpendBar bar = SpendBar.of(7_999, 10_000, MARKS, "t");
    assertThat(bar.widthPx()).isEqualTo(320);
    assertThat(bar.pct()).isEqualTo(BigInteger.valueOf(79));
    assertThat(bar.state()).isEqualTo("ok");
    assertThat(bar.marks()).containsExactly(new SpendBar.Mark(200, "50%", "middle"),
        new SpendBar.Mark(320, "80%", "middle"), new SpendBar.Mark(400, "100%", "end"));
    assertThat(SpendBar.of(8_000, 10_000, MARKS, "t").state()).isEqualTo("warn");
    assertThat(SpendBar.of(10_000, 10_000, MARKS, "t").state()).isEqualTo("over");
  }

  @Test
  void aSpendPastItsLimitLengthensTheTrackSoTheMarksShowHowFarPast() {
    SpendBar bar = SpendBar.of(12_000, 10_000, MARKS, "t");
    assertThat(bar.widthPx()).isEqualTo(400);
    assertThat(bar.pct()).isEqualTo(BigInteger.valueOf(120));
    assertThat(bar.state()).isEqualTo("over");
    assertThat(bar.marks()).extracting(SpendBar.Mark::x).containsExactly(167L, 267L, 333L);
  }

  @Test
  void aMarkAboveOneHundredPercentLengthensTheTrackToIt() {
    SpendBar bar = SpendBar.of(5_000, 10_000, List.of(50, 150), "t");
    assertThat(bar.marks()).extracting(SpendBar.Mark::x).containsExactly(133L, 400L);
    assertThat(bar.widthPx()).isEqualTo(133);
  }

  @Test
  void noLimitIsAnEmptyTrackAndHugeAmountsAreExact() {
    SpendBar none = SpendBar.of(500, 0, MARKS, "t");
    assertThat(none.widthPx()).isZero();
    assertThat(none.pct()).isNull();
    assertThat(none.marks()).isEmpty();
    assertThat(SpendBar.of(Long.MAX_VALUE, Long.MAX_VALUE, MARKS, "t").widthPx()).isEqualTo(400);
    assertThat(SpendBar.pct(Long.MAX_VALUE, 1)).isEqualTo(new BigInteger("922337203685477580700"));
    assertThat(SpendBar.of(Long.MAX_VALUE, 1, MARKS, "t").state()).isEqualTo("over");
    assertThatThrownBy(() -> SpendBar.of(-1, 10, MARKS, "t")).hasMessage("a spend and its limit are >= 0, got -1 of 10");
  }
}
