package dev.meterd.ledger;

/** The webhook events meterd writes to its outbox, by their wire names. */
public enum EventType {
  /** A wallet's spend in a cycle reached a threshold of its monthly budget. */
  ALERT_FIRED("alert.fired"),
  /** A wallet's balance went below its auto top-up threshold. */
  TOPUP_REQUESTED("topup.requested"),
  /** A wallet's balance went below 0. */
  WALLET_DEPLETED("wallet.depleted"),
  /** A node was halted, or its halt's error changed. */
  NODE_HALTED("node.halted"),
  /** A halted node was resumed by an operator, or consumed again by a run. */
  NODE_RESUMED("node.resumed");

  private final String wireName;

  EventType(String wireName) {
    this.wireName = wireName;
  }

  /** The event's {@code type} in its JSON, e.g. {@code node.halted}. */
  public String wireName() {
    return wireName;
  }
}
