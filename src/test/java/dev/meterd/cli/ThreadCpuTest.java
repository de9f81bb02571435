package dev.meterd.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.Test;

class ThreadCpuTest {

  @Test
  void readsANameWithSpacesAndParenthesesAndAddsUserAndSystemTicks() {
    String stat = "17094 (C2 Compiler) x) R 17090 17090 11652 0 -1 4194304 101 0 0 0 731 42 0 0 20 0 1 0 1314231";

    ThreadCpu.Thread thread = ThreadCpu.parse(stat);

    assertThat(thread.name()).isEqualTo("C2 Compiler) x");
    assertThat(thread.ticks()).isEqualTo(773);
  }

  @Test
  void refusesALineWithoutAName() {
    assertThatThrownBy(() -> ThreadCpu.parse("17094 R 1 2 3"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("not a /proc stat line: 17094 R 1 2 3");
  }

  /** On Linux: the CPU this thread spends between two readings is counted as the caller's. */
  @Test
  void countsTheCallersSpinAsTheCallers() {
    assumeTrue(ThreadCpu.now().isPresent(), "Linux 3.17 or later only (/proc/thread-self)");
    ThreadCpu before = ThreadCpu.now().orElseThrow();
    ThreadCpu.Split split;
    long spins = 0;
    do {
      // Spins until Linux has counted five ticks (10 ms each) of this thread, or the process has
      // spent 5 s of CPU without any counted as this thread's: then the caller was not found.
      for (int i = 0; i < 1_000_000; i++) {
        spins += i ^ spins;
      }
      split = ThreadCpu.now().orElseThrow().since(before);
    } while (split.caller() < 0.05 && split.process() < 5);

    assertThat(spins).isNotZero();
    assertThat(split.caller()).isGreaterThanOrEqualTo(0.05);
    assertThat(split.rest()).isGreaterThanOrEqualTo(0);
    assertThat(split.process()).isCloseTo(split.caller() + split.jit() + split.gc() + split.rest(), within(1e-9));
  }
}
