package dev.meterd.admin;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.text.NumberFormat;
import java.util.Currency;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * Amounts as the admin pages show them: integer minor units ("cents") of {@code [billing]
 * currency} written as money, {@code -$18.51}, exactly (no floating point: the cents are scaled by
 * the currency's own number of fraction digits, 2 for USD, 0 for JPY, 3 for BHD). JSON keeps
 * integer cents. The pages' forms take amounts the same way, in the currency's major unit
 * ({@code 18.51}), and {@link #minorUnits} turns them back into cents, exactly.
 */
public final class Money {

  private final Currency currency;
  private final int digits;
  /** A plain amount: digits, then at most the currency's fraction digits after a point. */
  private final Pattern amount;

  public Money(String currencyCode) {
    this.currency = Currency.getInstance(currencyCode);
    this.digits = Math.max(0, currency.getDefaultFractionDigits());
    this.amount = Pattern.compile(digits == 0 ? "[0-9]{1,40}" : "[0-9]{1,40}(\\.[0-9]{1," + digits + "})?");
  }

  /** The currency's decimals (ISO 4217): what a cent of the ledger is, 10^-digits of a unit. */
  public int digits() {
    return digits;
  }

  public String currencyCode() {
    return currency.getCurrencyCode();
  }

  /** {@code cents} minor units as money, e.g. {@code -1851} in USD as {@code -$18.51}. */
  public String format(long cents) {
    // A new format each time: NumberFormat is not thread-safe, and pages render on several threads.
    NumberFormat format = NumberFormat.getCurrencyInstance(Locale.US);
    format.setCurrency(currency);
    format.setMinimumFractionDigits(digits);
    format.setMaximumFractionDigits(digits);
    return format.format(BigDecimal.valueOf(cents, digits));
  }

  /**
   * {@code cents} as a form's field holds it: the major unit without symbol or grouping, e.g.
   * {@code 1851} in USD as {@code 18.51}, which {@link #minorUnits} reads back.
   */
  public String plain(long cents) {
    return BigDecimal.valueOf(cents, digits).toPlainString();
  }

  /**
   * The minor units of an amount typed in a form, in the major unit ({@code 18.51} is 1851 cents
   * of USD), exactly; null when the text is not such an amount (a sign, a symbol, grouping, an
   * exponent, more fraction digits than the currency has). Never rounded: {@code 18.515} is not
   * an amount of USD. The caller checks the range.
   */
  public BigInteger minorUnits(String text) {
    String stripped = text == null ? "" : text.strip();
    if (!amount.matcher(stripped).matches()) {
      return null;
    }
    return new BigDecimal(stripped).movePointRight(digits).toBigIntegerExact();
  }

  /** How a form's amount is written, for messages: "an amount in USD such as 18.51". */
  public String amountRule() {
    return "an amount in " + currencyCode() + " such as " + plain(1851)
        + (digits == 0 ? " (whole units)" : " (at most " + digits + " decimals)");
  }
}
