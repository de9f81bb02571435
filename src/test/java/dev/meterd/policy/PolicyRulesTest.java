package dev.meterd.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The pure rules of prepaid credit. */
class PolicyRulesTest {

  @Test
  void aRecordCrossingTheDailyCapIsChargedTheRemainderAndTheRestWaived() {
    assertThat(DailyCap.split(400, 700, 1_000)).isEqualTo(new DailyCap.Split(300, 100));
    assertThat(DailyCap.split(400, 600, 1_000)).isEqualTo(new DailyCap.Split(400, 0));
    assertThat(DailyCap.split(400, 1_000, 1_000)).isEqualTo(new DailyCap.Split(0, 400));
    assertThat(DailyCap.split(400, 1_500, 1_000)).isEqualTo(new DailyCap.Split(0, 400));
    assertThat(DailyCap.split(Long.MAX_VALUE, 0, 0)).isEqualTo(new DailyCap.Split(Long.MAX_VALUE, 0));
    assertThat(DailyCap.remaining(700, 1_000)).isEqualTo(300L);
    assertThat(DailyCap.remaining(1_700, 1_000)).isEqualTo(0L);
    assertThat(DailyCap.remaining(1_700, 0)).isNull();
  }

  @Test
  void aNegativeCostIsRefusedByTheCap() {
    assertThatThrownBy(() -> DailyCap.split(-1, 0, 10)).isInstanceOf(IllegalArgumentException.class)
        .hasMessage("cost, day's charges and cap must be >= 0, got -1, 0, 10");
  }

  @Test
  void alertThresholdsAreReachedExactlyWithoutRounding() {
    List<Integer> thresholds = List.of(50, 80, 100);
    assertThat(BudgetAlerts.reached(4_999, 10_000, thresholds)).isEmpty();
    assertThat(BudgetAlerts.reached(5_000, 10_000, thresholds)).containsExactly(50);
    assertThat(BudgetAlerts.reached(12_000, 10_000, thresholds)).containsExactly(50, 80, 100);
    // 80 % of 3 cents is 2.4 cents: 2 has not reached it, 3 has.
    assertThat(BudgetAlerts.reached(2, 3, thresholds)).containsExactly(50);
    assertThat(BudgetAlerts.reached(Long.MAX_VALUE, Long.MAX_VALUE, thresholds)).containsExactly(50, 80, 100);
    assertThat(BudgetAlerts.reached(Long.MAX_VALUE, 0, thresholds)).isEmpty();
  }

  @Test
  void settingsRefuseNegativeAmountsAndPatchOnlyWhatTheyName() {
    assertThatThrownBy(() -> new WalletSettings(0, -5, 0, 0, true)).isInstanceOf(IllegalArgumentException.class)
        .hasMessage("daily_cap_cents must be >= 0 (0 is off), got -5");
    WalletSettings before = new WalletSettings(10_000, 500, 100, 2_000, true);
    assertThat(new WalletSettings.Patch(null, 0L, null, null, false).applyTo(before))
        .isEqualTo(new WalletSettings(10_000, 0, 100, 2_000, false));
    assertThat(new WalletSettings.Patch(null, null, null, null, null).empty()).isTrue();
  }

  @Test
  void alertThresholdsMustAscend() {
    assertThatThrownBy(() -> new CreditRules(List.of(80, 50))).isInstanceOf(IllegalArgumentException.class)
        .hasMessage("alert thresholds must be ascending percentages from 1 to 1000, got [80, 50]");
  }
}
