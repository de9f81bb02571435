package dev.meterd.ledger;

/** Ledger transaction types; a charge debits (amount <= 0), the others credit (amount > 0). */
public enum TxnType {
  CHARGE,
  GRANT,
  TOPUP,
  REFUND;

  public String sqlName() {
    return name().toLowerCase(java.util.Locale.ROOT);
  }

  static TxnType fromSql(String name) {
    return valueOf(name.toUpperCase(java.util.Locale.ROOT));
  }
}
