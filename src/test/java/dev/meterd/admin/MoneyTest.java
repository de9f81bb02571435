package dev.meterd.admin;

import static org.assertj.core.api.Assertions.assertThat;

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
}
