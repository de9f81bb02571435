package dev.meterd.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.meterd.policy.Authorization.Credit;
import dev.meterd.policy.Authorization.Decision;
import dev.meterd.policy.Authorization.Reason;
import org.junit.jupiter.api.Test;

/** The rule of authorize and holds: who is refused, for which reason first, and what enforcement off changes. */
class AuthorizationTest {

  private static Credit credit(long balance, long held, boolean enabled, long cap, long chargedToday) {
    return new Credit(balance, held, enabled, cap, chargedToday);
  }

  @Test
  void availableIsTheBalanceLessTheHoldsAndACostMayTakeItToZeroButNotBelow() {
    Credit c = credit(1_000, 300, true, 0, 0);
    assertThat(c.availableCents()).isEqualTo(700);
    assertThat(Authorization.decide(c, 700L, true).refusal()).isNull();
    assertThat(Authorization.decide(c, 701L, true).refusal()).isEqualTo(Reason.INSUFFICIENT_BALANCE);
    assertThat(Authorization.decide(c, 0L, true).refusal()).isNull();
  }

  @Test
  void withoutACostAnAvailableBalanceOfZeroOrLessIsRefusedButACostOfZeroOnlyBelowZero() {
    assertThat(Authorization.decide(Credit.NONE, null, true).refusal()).isEqualTo(Reason.INSUFFICIENT_BALANCE);
    assertThat(Authorization.decide(Credit.NONE, 0L, true).refusal()).isNull();
    assertThat(Authorization.decide(credit(1, 0, true, 0, 0), null, true).refusal()).isNull();
    assertThat(Authorization.decide(credit(-1, 0, true, 0, 0), 0L, true).refusal())
        .isEqualTo(Reason.INSUFFICIENT_BALANCE);
  }

  @Test
  void aDisabledWalletIsRefusedFirstThenTheDailyCapThenTheBalance() {
    assertThat(Authorization.decide(credit(-5, 0, false, 100, 100), 10L, true).refusal())
        .isEqualTo(Reason.WALLET_DISABLED);
    assertThat(Authorization.decide(credit(-5, 0, true, 100, 100), 10L, true).refusal())
        .isEqualTo(Reason.DAILY_CAP_REACHED);
    assertThat(Authorization.decide(credit(-5, 0, true, 100, 99), 10L, true).refusal())
        .isEqualTo(Reason.INSUFFICIENT_BALANCE);
    assertThat(Authorization.decide(credit(5_000, 0, true, 100, 150), 1L, true).refusal())
        .isEqualTo(Reason.DAILY_CAP_REACHED);
    assertThat(credit(5_000, 0, true, 100, 150).dailyRemainingCents()).isZero();
    assertThat(credit(5_000, 0, true, 0, 150).dailyRemainingCents()).isNull();
  }

  @Test
  void enforcementOffAllowsWhatItWouldRefuseAndFlagsItLowBalance() {
    Decision on = Authorization.decide(credit(0, 0, false, 0, 0), 1L, true);
    Decision off = Authorization.decide(credit(0, 0, false, 0, 0), 1L, false);
    assertThat(on.allowed()).isFalse();
    assertThat(off.allowed()).isTrue();
    assertThat(off.lowBalance()).isTrue();
    Decision fine = Authorization.decide(credit(10, 0, true, 0, 0), 1L, false);
    assertThat(fine.allowed()).isTrue();
    assertThat(fine.lowBalance()).isFalse();
  }

  @Test
  void theLargestCostAgainstTheSmallestBalanceIsRefusedWithoutOverflow() {
    assertThat(Authorization.decide(credit(Long.MIN_VALUE + 1, 0, true, 0, 0), Long.MAX_VALUE, true).refusal())
        .isEqualTo(Reason.INSUFFICIENT_BALANCE);
    assertThatThrownBy(() -> credit(Long.MIN_VALUE, 1, true, 0, 0).availableCents())
        .isInstanceOf(ArithmeticException.class);
    assertThatThrownBy(() -> Authorization.decide(Credit.NONE, -1L, true))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("cost_cents must be >= 0, got -1");
  }
}
