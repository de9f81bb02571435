package dev.meterd.admin;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A spend against its limit (a cycle's spend against the monthly budget, a day's against the
 * daily cap) as the pages draw it: an SVG bar on a track, with marks at percentages of the limit
 * (the alert thresholds), drawn by the stylesheet, no script. The track is as long as the larger
 * of the spend and the highest mark, so a spend past its limit shows how far past.
 *
 * @param widthPx the value's length on a track of {@link #TRACK_PX}
 * @param pct the spend in whole percent of the limit, rounded down; null without a limit
 * @param state {@code ok}, {@code warn} (80 % or more) or {@code over} (100 % or more): the bar's class
 * @param marks where each mark is drawn, and its label
 * @param text what the bar says, also its {@code <title>}
 */
record SpendBar(long widthPx, BigInteger pct, String state, List<Mark> marks, String text) {

  /** The track's length in the SVG's units. */
  static final int TRACK_PX = 400;

  /**
   * @param x where on the track
   * @param anchor how the label sits on it ({@code middle}, or {@code end} at the track's end)
   */
  record Mark(long x, String label, String anchor) {}

  /**
   * The bar of {@code spentCents} against {@code limitCents} (0: no limit, then an empty track).
   *
   * @param marksPct percentages of the limit to mark, ascending
   * @param text what the bar says
   */
  static SpendBar of(long spentCents, long limitCents, List<Integer> marksPct, String text) {
    if (spentCents < 0 || limitCents < 0) {
      throw new IllegalArgumentException("a spend and its limit are >= 0, got " + spentCents + " of " + limitCents);
    }
    if (limitCents == 0) {
      return new SpendBar(0, null, "ok", List.of(), text);
    }
    int topPct = marksPct.isEmpty() ? 100 : Math.max(100, marksPct.get(marksPct.size() - 1));
    BigInteger limit = BigInteger.valueOf(limitCents);
    // The track's length in cents times 100, so that a mark at pct % of the limit is exact.
    BigInteger track = limit.multiply(BigInteger.valueOf(topPct)).max(BigInteger.valueOf(spentCents)
        .multiply(BigInteger.valueOf(100)));
    List<Mark> marks = new ArrayList<>();
    for (int p : marksPct) {
      long x = px(limit.multiply(BigInteger.valueOf(p)), track);
      marks.add(new Mark(x, p + "%", x > TRACK_PX - 15 ? "end" : "middle"));
    }
    BigInteger pct = pct(spentCents, limitCents);
    String state = pct.compareTo(BigInteger.valueOf(100)) >= 0 ? "over"
        : pct.compareTo(BigInteger.valueOf(80)) >= 0 ? "warn" : "ok";
    return new SpendBar(px(BigInteger.valueOf(spentCents).multiply(BigInteger.valueOf(100)), track), pct, state,
        marks, text);
  }

  /** {@code spentCents} in whole percent of {@code limitCents} (above 0), rounded down, exactly. */
  static BigInteger pct(long spentCents, long limitCents) {
    return BigInteger.valueOf(spentCents).multiply(BigInteger.valueOf(100)).divide(BigInteger.valueOf(limitCents));
  }

  /** {@code part} of {@code whole} as a length on the track, rounded to the nearest unit. */
  private static long px(BigInteger part, BigInteger whole) {
    return part.multiply(BigInteger.valueOf(2L * TRACK_PX)).add(whole).divide(whole.multiply(BigInteger.TWO))
        .longValueExact();
  }

  /** The bar as a template reads it. */
  Map<String, Object> model() {
    return Map.of("width", widthPx, "track", TRACK_PX, "state", state, "marks", marks, "text", text);
  }
}
