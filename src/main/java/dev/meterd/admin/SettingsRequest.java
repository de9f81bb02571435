package dev.meterd.admin;

import dev.meterd.policy.WalletSettings;
import io.vertx.core.json.Json;
import io.vertx.core.json.JsonObject;
import java.math.BigInteger;
import java.util.List;

/**
 * A change of a wallet's policy as {@code PATCH /admin/wallets/{user}} and {@code wallet set} both
 * take it, validated the same way on both: each amount an integer number of cents from 0 (off) to
 * 2^63 - 1, never truncated or rounded; {@code enabled} a boolean.
 */
public final class SettingsRequest {

  private SettingsRequest() {}

  public static final String MONTHLY_BUDGET = "monthly_budget_cents";
  public static final String DAILY_CAP = "daily_cap_cents";
  public static final String AUTO_TOPUP_THRESHOLD = "auto_topup_threshold_cents";
  public static final String AUTO_TOPUP_AMOUNT = "auto_topup_amount_cents";
  public static final String ENABLED = "enabled";

  static final List<String> FIELDS = List.of(MONTHLY_BUDGET, DAILY_CAP, AUTO_TOPUP_THRESHOLD, AUTO_TOPUP_AMOUNT, ENABLED);

  static final String BODY_SHAPE = "the body must be a JSON object with one or more of " + String.join(", ", FIELDS);

  /**
   * The patch of an HTTP body.
   *
   * @throws ApiException 400, naming what is wrong
   */
  static WalletSettings.Patch fromJson(JsonObject body) {
    if (body == null || body.isEmpty()) {
      throw new ApiException(400, BODY_SHAPE);
    }
    for (String name : body.fieldNames()) {
      if (!FIELDS.contains(name)) {
        throw new ApiException(400, "unknown setting \"" + name + "\"; the settings are " + String.join(", ", FIELDS));
      }
    }
    Object enabled = body.getValue(ENABLED);
    if (body.containsKey(ENABLED) && !(enabled instanceof Boolean)) {
      throw new ApiException(400, "enabled must be true or false, got " + Json.encode(enabled));
    }
    return new WalletSettings.Patch(cents(body, MONTHLY_BUDGET), cents(body, DAILY_CAP),
        cents(body, AUTO_TOPUP_THRESHOLD), cents(body, AUTO_TOPUP_AMOUNT), (Boolean) enabled);
  }

  private static Long cents(JsonObject body, String name) {
    if (!body.containsKey(name)) {
      return null;
    }
    Object value = body.getValue(name);
    Long cents = centsOrNull(GrantRequest.integer(value));
    if (cents == null) {
      throw new ApiException(400, rule(name) + ", got " + Json.encode(value));
    }
    return cents;
  }

  /**
   * The cents of a command-line value, by the same rule as the HTTP body.
   *
   * @throws IllegalArgumentException naming the setting and the rule
   */
  public static long centsOf(String name, String text) {
    Long cents = text.matches("[+-]?[0-9]+") ? centsOrNull(new BigInteger(text)) : null;
    if (cents == null) {
      throw new IllegalArgumentException(rule(name) + ", got \"" + text + "\"");
    }
    return cents;
  }

  private static Long centsOrNull(BigInteger amount) {
    if (amount == null || amount.signum() < 0 || amount.bitLength() > 63) {
      return null;
    }
    return amount.longValueExact();
  }

  private static String rule(String name) {
    return name + " must be an integer number of cents from 0 (off) to " + Long.MAX_VALUE
        + " (without a fraction or exponent)";
  }
}
