package dev.meterd.admin;

import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
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
   * A slot's usage.
   *
   * @param records how many records, or null where only the amounts are counted (a wallet's days)
   */
  record Usage(long chargedCents, long waivedCents, Long records) {

    static final Usage NONE = new Usage(0, 0, null);
  }

  /**
   * The {@code days} days to {@code lastDay}, a slot each (a day without usage at zero), labelled
   * every 7th day counting back from the last.
   */
  static Map<String, Object> byDay(LocalDate lastDay, int days, Map<LocalDate, Usage> usage, Money money) {
    List<Slot> slots = new ArrayList<>();
    for (int back = days - 1; back >= 0; back--) {
      LocalDate day = lastDay.minusDays(back);
      slots.add(slot(back % 7 == 0 ? day.toString().substring(5) : null, day.toString(),
          usage.getOrDefault(day, Usage.NONE), money));
    }
    return model(slots, money, "day (UTC)");
  }

  /**
   * The {@code hours} hours to the one starting at {@code lastHour}, a slot each, labelled at every
   * 6th hour of the day (the day itself at midnight).
   */
  static Map<String, Object> byHour(Instant lastHour, int hours, Map<Instant, Usage> usage, Money money) {
    List<Slot> slots = new ArrayList<>();
    for (int back = hours - 1; back >= 0; back--) {
      Instant hour = lastHour.minus(Duration.ofHours(back));
      LocalDateTime utc = LocalDateTime.ofInstant(hour, ZoneOffset.UTC);
      String label = utc.getHour() % 6 != 0 ? null
          : utc.getHour() == 0 ? utc.toLocalDate().toString().substring(5) : String.format("%02d:00", utc.getHour());
      String when = utc.toLocalDate() + " " + String.format("%02d:00", utc.getHour()) + " UTC";
      slots.add(slot(label, when, usage.getOrDefault(hour, Usage.NONE), money));
    }
    return model(slots, money, "hour (UTC)");
  }

  /** A slot titled "2026-11-21: $10.00, 3 records ($6.00 charged, $4.00 waived)". */
  private static Slot slot(String axisLabel, String when, Usage u, Money money) {
    long cost = Math.addExact(u.chargedCents(), u.waivedCents());
    String title = when + ": " + money.format(cost)
        + (u.records() == null ? "" : ", " + AdminPages.count(u.records(), "record"))
        + (u.waivedCents() == 0 ? "" : " (" + money.format(u.chargedCents()) + " charged, "
            + money.format(u.waivedCents()) + " waived)");
    return new Slot(axisLabel, title, u.chargedCents(), u.waivedCents());
  }

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
