package dev.meterd.admin;

import dev.meterd.ledger.TxnType;
import dev.meterd.policy.WalletSettings;
import io.vertx.core.MultiMap;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.OptionalLong;

/**
 * The wallet page's two forms, read and checked as the API checks its bodies: the settings form
 * (amounts in the currency's major unit, empty for off) and the credit form (a grant, top-up or
 * refund, with the idempotency key the page put in it when it was shown).
 */
final class WalletForms {

  private WalletForms() {}

  /** A setting as the settings form names it and as a message names it. */
  enum Setting {
    MONTHLY_BUDGET("monthly_budget", "monthly budget"),
    DAILY_CAP("daily_cap", "daily cap"),
    AUTO_TOPUP_THRESHOLD("auto_topup_threshold", "auto top-up threshold"),
    AUTO_TOPUP_AMOUNT("auto_topup_amount", "auto top-up amount");

    final String field;
    final String shownAs;

    Setting(String field, String shownAs) {
      this.field = field;
      this.shownAs = shownAs;
    }

    long of(WalletSettings s) {
      return switch (this) {
        case MONTHLY_BUDGET -> s.monthlyBudgetCents();
        case DAILY_CAP -> s.dailyCapCents();
        case AUTO_TOPUP_THRESHOLD -> s.autoTopupThresholdCents();
        case AUTO_TOPUP_AMOUNT -> s.autoTopupAmountCents();
      };
    }

    /** The patch's value of this setting, or null when the patch keeps it. */
    Long of(WalletSettings.Patch p) {
      return switch (this) {
        case MONTHLY_BUDGET -> p.monthlyBudgetCents();
        case DAILY_CAP -> p.dailyCapCents();
        case AUTO_TOPUP_THRESHOLD -> p.autoTopupThresholdCents();
        case AUTO_TOPUP_AMOUNT -> p.autoTopupAmountCents();
      };
    }
  }

  static final String ENABLED = "enabled";
  /** The settings form carries the values it was shown with under this prefix (in cents). */
  static final String SHOWN_PREFIX = "shown_";

  /**
   * The change the settings form asks for: each field whose value differs from the one the form
   * was shown with, so that a setting another admin changed meanwhile is kept unless this one
   * changed it too. An unchecked checkbox is not sent: {@code enabled} absent means off.
   *
   * <p>A post without a field's shown value (written by hand, not by the page) changes that field
   * only if it sends the field, and {@code enabled} only beside {@code shown_enabled}, as without
   * it an absent checkbox cannot be told from one never shown: nothing is set off by absence.
   *
   * @throws ApiException 400, naming the field and the rule
   */
  static WalletSettings.Patch settingsPatch(MultiMap form, Money money) {
    Long[] cents = new Long[Setting.values().length];
    for (Setting s : Setting.values()) {
      long value = settingCents(s, form.get(s.field), money);
      String shown = form.get(SHOWN_PREFIX + s.field);
      boolean changed = shown == null ? form.contains(s.field) : !shown.equals(Long.toString(value));
      cents[s.ordinal()] = changed ? value : null;
    }
    boolean enabled = "true".equals(form.get(ENABLED));
    String shownEnabled = form.get(SHOWN_PREFIX + ENABLED);
    // Beside shown_enabled the checkbox's absence means unchecked; without it, only an explicit value counts.
    Boolean enabledChange = shownEnabled != null ? (shownEnabled.equals(Boolean.toString(enabled)) ? null : enabled)
        : form.contains(ENABLED) ? enabled : null;
    return new WalletSettings.Patch(cents[0], cents[1], cents[2], cents[3], enabledChange);
  }

  /** A setting's cents: empty is 0, off. */
  private static long settingCents(Setting s, String text, Money money) {
    if (text == null || text.isBlank()) {
      return 0;
    }
    BigInteger cents = money.minorUnits(text);
    if (cents == null || cents.bitLength() > 63) {
      throw new ApiException(400, s.shownAs + " must be " + money.amountRule() + ", at most "
          + money.format(Long.MAX_VALUE) + ", or empty for off; got \"" + text.strip() + "\"");
    }
    return cents.longValueExact();
  }

  /** What a patch changes, for the notice after saving: "monthly budget $100.00, daily cap off". */
  static String describe(WalletSettings.Patch patch, Money money) {
    List<String> parts = new ArrayList<>();
    for (Setting s : Setting.values()) {
      if (s.of(patch) != null) {
        parts.add(s.shownAs + " " + amountOrOff(s.of(patch), money));
      }
    }
    if (patch.enabled() != null) {
      parts.add(patch.enabled() ? "enabled" : "disabled");
    }
    return String.join(", ", parts);
  }

  /** What changed between two settings: "monthly budget off → $100.00, disabled". */
  static String describe(WalletSettings before, WalletSettings after, Money money) {
    List<String> parts = new ArrayList<>();
    for (Setting s : Setting.values()) {
      if (s.of(before) != s.of(after)) {
        parts.add(s.shownAs + " " + amountOrOff(s.of(before), money) + " → " + amountOrOff(s.of(after), money));
      }
    }
    if (before.enabled() != after.enabled()) {
      parts.add(after.enabled() ? "enabled" : "disabled");
    }
    return parts.isEmpty() ? "no change" : String.join(", ", parts);
  }

  static String amountOrOff(long cents, Money money) {
    return cents == 0 ? "off" : money.format(cents);
  }

  /**
   * A credit as the credit form asks for it.
   *
   * @param type a grant, a top-up or a refund
   * @param paymentId a top-up's or refund's payment id; null for a grant
   * @param note null when left empty
   * @param idempotencyKey the key the page generated when it showed the form
   */
  record Credit(TxnType type, long amountCents, String paymentId, String note, String idempotencyKey) {}

  /**
   * The credit form's request.
   *
   * @throws ApiException 400, naming the field and the rule
   */
  static Credit credit(MultiMap form, Money money, long maxGrantCents) {
    String key = form.get("idempotency_key");
    if (key == null || !IdempotencyKey.valid(key)) {
      throw new ApiException(400, "the form has no valid idempotency key; reload the page and fill it in again");
    }
    TxnType type = creditType(form.get("kind"));
    String amountText = form.get("amount") == null ? "" : form.get("amount").strip();
    BigInteger amount = money.minorUnits(amountText);
    OptionalLong cents = GrantRequest.centsWithin(amount, maxGrantCents);
    if (cents.isEmpty()) {
      throw new ApiException(400, "amount must be " + money.amountRule() + ", from " + money.format(1) + " to "
          + money.format(maxGrantCents) + "; got \"" + amountText + "\"");
    }
    String paymentId = form.get("payment_id") == null ? "" : form.get("payment_id");
    if (type == TxnType.GRANT && !paymentId.isEmpty()) {
      throw new ApiException(400, "a grant takes no payment id; choose top-up or refund to record a payment");
    }
    String note = form.get("note") == null || form.get("note").isBlank() ? null
        : GrantRequest.checkStorable(form.get("note"), "the note");
    return new Credit(type, cents.getAsLong(), type == TxnType.GRANT ? null
        : PaymentRequest.paymentId(paymentId, "the payment id"), note, key);
  }

  private static TxnType creditType(String kind) {
    if (kind != null) {
      switch (kind) {
        case "grant", "topup", "refund" -> {
          return TxnType.valueOf(kind.toUpperCase(Locale.ROOT));
        }
        default -> { }
      }
    }
    throw new ApiException(400, "choose what the credit is: a grant, a top-up or a refund");
  }
}
