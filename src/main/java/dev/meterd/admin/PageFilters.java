package dev.meterd.admin;

import io.pebbletemplates.pebble.extension.AbstractExtension;
import io.pebbletemplates.pebble.extension.Filter;
import io.pebbletemplates.pebble.template.EvaluationContext;
import io.pebbletemplates.pebble.template.PebbleTemplate;
import java.util.List;
import java.util.Map;

/**
 * The pages' own Pebble filters: {@code {{ w.balanceCents | money }}} writes integer cents as money
 * in {@code [billing] currency} ({@code -$18.51}). Pebble escapes what a filter returns like any
 * other value.
 */
final class PageFilters extends AbstractExtension {

  private final Money money;

  PageFilters(Money money) {
    this.money = money;
  }

  @Override
  public Map<String, Filter> getFilters() {
    return Map.of("money", new MoneyFilter(money));
  }

  private record MoneyFilter(Money money) implements Filter {

    @Override
    public List<String> getArgumentNames() {
      return List.of();
    }

    @Override
    public Object apply(Object input, Map<String, Object> args, PebbleTemplate self, EvaluationContext context,
        int lineNumber) {
      if (input == null) {
        return null;
      }
      if (!(input instanceof Long || input instanceof Integer)) {
        // A template bug, not a user's: say which template and line, rather than show a wrong amount.
        throw new IllegalArgumentException("the money filter takes integer cents, got " + input.getClass().getSimpleName()
            + " in " + self.getName() + " line " + lineNumber);
      }
      return money.format(((Number) input).longValue());
    }
  }
}
