package dev.meterd.batch;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The usage file names of the wire format: an hour's file and the files it goes on in at a limit. */
class WireFormatTest {

  @ParameterizedTest
  @ValueSource(strings = {
      "usage_2026-11-21-10.toml",
      "usage_2026-11-21-10.otoml",
      "usage_2026-11-21-10.1.toml",
      "usage_2026-11-21-10.2.toml",
      "usage_2026-11-21-10.9.toml",
      "usage_2026-11-21-10.10.toml",
      "usage_2026-11-21-10.205.toml",
      "usage_2026-11-21-23.1.toml",
      "usage_2028-02-29-00.3.toml",
      // The wire format reads .otoml exactly like .toml, so an hour's next file may carry it too.
      "usage_2026-11-21-10.1.otoml",
      "usage_2026-11-21-10.12345678901234567890.toml"})
  void acceptsAnHoursFileAndItsNextFiles(String name) {
    assertThat(WireFormat.isUsageFileName(name)).isTrue();
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "usage_2026-11-21-10.0.toml",
      "usage_2026-11-21-10.01.toml",
      "usage_2026-11-21-10.00.toml",
      "usage_2026-11-21-10.-1.toml",
      "usage_2026-11-21-10.+1.toml",
      "usage_2026-11-21-10.1a.toml",
      "usage_2026-11-21-10.a.toml",
      "usage_2026-11-21-10..toml",
      "usage_2026-11-21-10.1.1.toml",
      "usage_2026-11-21-10.1.json",
      "usage_2026-11-21-10.1",
      "usage_2026-11-21-10.1.toml.tmp",
      "usage_2026-11-21-10_1.toml",
      "usage_2026-11-21-10-1.toml",
      "usage_2026-11-21-24.1.toml",
      "usage_2026-02-30-10.1.toml",
      "usage_2026-11-21-10.\u0661.toml",
      "usage_2026-11-21-10.toml.1",
      "usage_2026-11-21.1.toml"})
  void refusesOtherNames(String name) {
    assertThat(WireFormat.isUsageFileName(name)).isFalse();
  }

  @Test
  void takesANameApartIntoItsHourAndPart() {
    assertThat(WireFormat.usageFileName("usage_2026-11-21-10.toml"))
        .contains(new WireFormat.UsageFileName("2026-11-21-10", 0, "toml"));
    assertThat(WireFormat.usageFileName("usage_2026-11-21-10.12.otoml"))
        .contains(new WireFormat.UsageFileName("2026-11-21-10", 12, "otoml"));
    assertThat(WireFormat.usageFileName("usage_2026-11-21-10.1234567890123456789.toml"))
        .contains(new WireFormat.UsageFileName("2026-11-21-10", Long.MAX_VALUE, "toml"));
    assertThat(WireFormat.usageFileName("usage_2026-11-21-10.0.toml")).isEmpty();
  }
}
