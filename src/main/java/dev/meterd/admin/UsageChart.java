package dev.meterd.admin;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Usage over consecutive slots (days, hours) as an inline SVG bar chart, no script: each bar the
 * slot's cost, what was charged below what the daily caps waived, with the slot's values in its
 * {@code <title>} (the browser shows it on hover). The y axis is labelled with 0 and the largest
 * cost, the x axis with the slots' labels where the caller put one, and both axes are named.
 */
final class UsageChart {

  /** The plotting area's size and where it sits in the SVG's units. */
  static final int LEFT = 64;
  static final int PLOT_WIDTH = 720;
  static final int TOP = 8;
  static final int PLOT_HEIGHT = 112;
  static final int HEIGHT = 156;

  private UsageChart() {}

  /**
   * One slot of the chart.
   *
   * @param axisLabel the x axis's label under this slot, or null for none
   * @param title what hovering the bar says
   */
  record Slot(String axisLabel, String title, long chargedCents, long waivedCents) {

    long costCents() {
      return Math.addExact(chargedCents, waivedCents);
    }
  }

  /**
   * The chart as a template reads it: {@code empty} when every slot is zero.
   *
   * @param xAxis the x axis's name, e.g. "day (UTC)"
   */
  static Map<String, Object> model(List<Slot> slots, Money money, String xAxis) {
    long max = slots.stream().mapToLong(Slot::costCents).max().orElse(0);
    int slotWidth = PLOT_WIDTH / Math.max(1, slots.size());
    int gap = Math.max(1, slotWidth / 5);
    List<Map<String, Object>> bars = new ArrayList<>();
    List<Map<String, Object>> labels = new ArrayList<>();
    for (int i = 0; i < slots.size(); i++) {
      Slot s = slots.get(i);
      long x = LEFT + (long) i * slotWidth;
      long costHeight = height(s.costCents(), max);
      long chargedHeight = height(s.chargedCents(), max);
      bars.add(Map.of("x", x, "width", slotWidth - gap, "title", s.title(),
          "chargedY", TOP + PLOT_HEIGHT - chargedHeight, "chargedHeight", chargedHeight,
          "waivedY", TOP + PLOT_HEIGHT - costHeight, "waivedHeight", costHeight - chargedHeight));
      if (s.axisLabel() != null) {
        labels.add(Map.of("x", x + (slotWidth - gap) / 2, "text", s.axisLabel()));
      }
    }
    Map<String, Object> model = new HashMap<>();
    model.put("empty", max == 0);
    model.put("bars", bars);
    model.put("xLabels", labels);
    model.put("yMax", money.format(max));
    model.put("yZero", money.format(0));
    model.put("xAxis", xAxis);
    model.put("left", LEFT);
    model.put("right", LEFT + PLOT_WIDTH);
    model.put("top", TOP);
    model.put("bottom", TOP + PLOT_HEIGHT);
    model.put("midX", LEFT + PLOT_WIDTH / 2);
    model.put("midY", TOP + PLOT_HEIGHT / 2);
    model.put("width", LEFT + PLOT_WIDTH + 8);
    model.put("height", HEIGHT);
    return model;
  }

  /** A cost's bar height: in proportion to the largest, and at least 1 unit when above zero. */
  private static long height(long cents, long max) {
    if (max == 0 || cents == 0) {
      return 0;
    }
    return Math.max(1, Math.round((double) PLOT_HEIGHT * cents / max));
  }
}
