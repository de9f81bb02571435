package dev.meterd.admin;

import java.math.BigDecimal;
import java.text.NumberFormat;
import java.util.Currency;
import java.util.Locale;

/**
 * Amounts as the admin pages show them: integer minor units ("cents") of {@code [billing]
 * currency} written as money, {@code -$18.51}, exactly (no floating point: the cents are scaled by
 * the currency's own number of fraction digits, 2 for USD, 0 for JPY, 3 for BHD). JSON keeps
 * integer cents.
 */
public final class Money {

  private final Currency currency;

  public Money(String currencyCode) {
    this.currency = Currency.getInstance(currencyCode);
  }

  public String currencyCode() {
    return currency.getCurrencyCode();
  }

  /** {@code cents} minor units as money, e.g. {@code -1851} in USD as {@code -$18.51}. */
  public String format(long cents) {
    int digits = Math.max(0, currency.getDefaultFractionDigits());
    // A new format each time: NumberFormat is not thread-safe, and pages render on several threads.
    NumberFormat format = NumberFormat.getCurrencyInstance(Locale.US);
    format.setCurrency(currency);
    format.setMinimumFractionDigits(digits);
    format.setMaximumFractionDigits(digits);
    return format.format(BigDecimal.valueOf(cents, digits));
  }
}
