package dev.meterd.ledger;

import java.util.List;

/**
 * A wallet's active holds at one moment (placed, and neither settled, released nor expired), as
 * one read: the newest of them, and how many there are and what they hold in all.
 *
 * @param newest at most the limit asked for, newest first
 * @param count how many there are, {@code newest} or more
 * @param heldCents what they all hold together
 */
public record ActiveHolds(List<Hold> newest, long count, long heldCents) {

  public ActiveHolds {
    newest = List.copyOf(newest);
    if (count < newest.size() || heldCents < 0) {
      throw new IllegalArgumentException("active holds must count at least the " + newest.size()
          + " listed and hold 0 or more cents, got " + count + " holding " + heldCents);
    }
  }

  /** Whether some active holds are not in {@link #newest}. */
  public boolean limited() {
    return count > newest.size();
  }
}
