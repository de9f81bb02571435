package dev.meterd.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * The CPU time of this process's threads, as Linux keeps it in {@code /proc/self/task/<tid>/stat},
 * so that {@code bench} can tell where a run's CPU went: the run's own thread, the JIT compilers,
 * the garbage collector, and the rest (the read-ahead thread first). The JVM's management beans
 * show none of the compilers' or collector's threads; Linux shows every thread. Elsewhere than on
 * Linux there is nothing to read, and {@link #now} is empty.
 */
final class ThreadCpu {

  /** Linux's USER_HZ, the unit of the stat files' times: 100 on every architecture meterd runs on. */
  private static final long TICKS_PER_SECOND = 100;

  private static final Path TASKS = Path.of("/proc/self/task");

  /**
   * One thread's line: its name as Linux keeps it (15 bytes at most, read as Latin-1 since the cut
   * may split a UTF-8 character) and its user and system ticks.
   */
  record Thread(String name, long ticks) {}

  /** Where a run's CPU went, in seconds. */
  record Split(double process, double caller, double jit, double gc, double rest) {}

  private final Map<Long, Thread> threads;
  private final long callerTid;
  private final long processTicks;

  private ThreadCpu(Map<Long, Thread> threads, long callerTid, long processTicks) {
    this.threads = threads;
    this.callerTid = callerTid;
    this.processTicks = processTicks;
  }

  /** The threads' times now, with the calling thread's id; empty where /proc has no such files. */
  static Optional<ThreadCpu> now() {
    if (!Files.isDirectory(TASKS)) {
      return Optional.empty();
    }
    try {
      long caller = Long.parseLong(
          Files.readString(Path.of("/proc/thread-self/stat"), StandardCharsets.ISO_8859_1).split(" ", 2)[0]);
      Map<Long, Thread> threads = new HashMap<>();
      try (Stream<Path> tasks = Files.list(TASKS)) {
        for (Path task : (Iterable<Path>) tasks::iterator) {
          try {
            threads.put(Long.parseLong(task.getFileName().toString()),
                parse(Files.readString(task.resolve("stat"), StandardCharsets.ISO_8859_1)));
          } catch (IOException ended) {
            // The thread ended between the listing and the read: its time is in the process's.
          }
        }
      }
      return Optional.of(new ThreadCpu(threads, caller, parse(Files.readString(Path.of("/proc/self/stat"), StandardCharsets.ISO_8859_1)).ticks()));
    } catch (IOException | RuntimeException e) {
      return Optional.empty();
    }
  }

  /**
   * A stat line's name and its user plus system ticks (fields 14 and 15). The name is between the
   * first '(' and the last ')', since it may hold both and spaces.
   */
  static Thread parse(String stat) {
    int open = stat.indexOf('(');
    int close = stat.lastIndexOf(')');
    if (open < 0 || close < open) {
      throw new IllegalArgumentException("not a /proc stat line: " + stat);
    }
    // After the name: state (field 3) ... utime (field 14), stime (field 15).
    String[] fields = stat.substring(close + 2).trim().split(" ");
    return new Thread(stat.substring(open + 1, close), Long.parseLong(fields[11]) + Long.parseLong(fields[12]));
  }

  /**
   * The CPU spent from {@code before} to this: the whole process (threads ended since included),
   * the thread that took both readings, HotSpot's compiler threads, its collector's threads (and
   * the VM thread, which runs its pauses), and the rest.
   */
  Split since(ThreadCpu before) {
    long caller = 0;
    long jit = 0;
    long gc = 0;
    for (Map.Entry<Long, Thread> e : threads.entrySet()) {
      Thread was = before.threads.get(e.getKey());
      long spent = e.getValue().ticks() - (was == null ? 0 : was.ticks());
      String name = e.getValue().name();
      if (e.getKey() == callerTid) {
        caller += spent;
      } else if (name.startsWith("C1 Compiler") || name.startsWith("C2 Compiler")) {
        jit += spent;
      } else if (name.startsWith("GC Thread") || name.startsWith("G1 ") || name.startsWith("VM Thread")) {
        gc += spent;
      }
    }
    // Linux scales the process's total and each thread's time apart, so that the threads may add
    // up to a tick or two more than the process: the rest is then none, and the process their sum.
    long rest = Math.max(0, processTicks - before.processTicks - caller - jit - gc);
    return new Split(seconds(caller + jit + gc + rest), seconds(caller), seconds(jit), seconds(gc), seconds(rest));
  }

  private static double seconds(long ticks) {
    return (double) ticks / TICKS_PER_SECOND;
  }
}
