package dev.meterd.testing;

import dev.meterd.ledger.Ledger;
import java.util.ArrayList;
import java.util.List;

/** What tests read back from a ledger to assert on. */
public final class LedgerContents {

  private LedgerContents() {}

  /** The keys of a node's consumed records, in key order. */
  public static List<String> consumedKeys(Ledger ledger, String node) {
    List<String> keys = new ArrayList<>();
    ledger.audit().forEachConsumed(node, c -> keys.add(c.key()));
    return keys;
  }
}
