package dev.meterd.admin;

import static org.assertj.core.api.Assertions.assertThat;

import java.math.BigInteger;
import org.junit.jupiter.api.Test;

class MoneyTest {

  @Test
  void centsAreWrittenAsMoneyInTheCurrencyExactly() {
    Money usd = new Money("USD");
    assertThat(usd.format(-1851)).isEqualTo("-$18.51");
    assertThat(usd.format(0)).isEqualTo("$0.00");
    assertThat(usd.format(5)).isEqualTo("$0.05");
    assertThat(usd.format(123_456_789)).isEqualTo("$1,234,567.89");
    assertThat(usd.format(Long.MAX_VALUE)).isEqualTo("$92,233,720,368,547,758.07");
    assertThat(usd.format(Long.MIN_VALUE)).isEqualTo("-$92,233,720,368,547,758.08");
    assertThat(new Money("EUR").format(-1851)).isEqualTo("-€18.51");
    assertThat(new Money("JPY").format(1851)).isEqualTo("¥1,851");
    assertThat(new Money("BHD").format(1851)).isEqualTo("BHD1.851");
  }

  @Test
  void formAmountsAreReadInTheMajorUnitExactly() {
    Money usd = new Money("USD");
    assertThat(usd.minorUnits("18.51")).isEqualTo(BigInteger.valueOf(1851));
    assertThat(usd.minorUnits(" 18.5 ")).isEqualTo(BigInteger.valueOf(1850));
    assertThat(usd.minorUnits("18")).isEqualTo(BigInteger.valueOf(1800));
    assertThat(usd.minorUnits("0")).isEqualTo(BigInteger.ZERO);
    assertThat(usd.minorUnits("92233720368547758.08")).isEqualTo(BigInteger.valueOf(Long.MAX_VALUE).add(BigInteger.ONE));
    for (String notAnAmount : new String[] {"", "18.515", "-1", "+1", "$18.51", "1,851.00", "1e3", ".5", "18.", "NaN"}) {
      assertThat(usd.minorUnits(notAnAmount)).as(notAnAmount).isNull();
    }
    assertThat(usd.minorUnits(null)).isNull();
    assertThat(new Money("JPY").minorUnits("1851")).isEqualTo(BigInteger.valueOf(1851));
    assertThat(new Money("JPY").minorUnits("18.51")).isNull();
    assertThat(new Money("BHD").minorUnits("1.851")).isEqualTo(BigInteger.valueOf(1851));
  }

  @Test
  void formFieldsHoldAmountsPlainAndSayHowToWriteThem() {
    assertThat(new Money("USD").plain(1851)).isEqualTo("18.51");
    assertThat(new Money("USD").plain(5)).isEqualTo("0.05");
    assertThat(new Money("JPY").plain(1851)).isEqualTo("1851");
    assertThat(new Money("USD").amountRule()).isEqualTo("an amount in USD such as 18.51 (at most 2 decimals)");
    assertThat(new Money("JPY").amountRule()).isEqualTo("an amount in JPY such as 1851 (whole units)");
  }
}
