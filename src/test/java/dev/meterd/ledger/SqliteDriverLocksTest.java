package dev.meterd.ledger;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * meterd opens its SQLite connections NOMUTEX (SQLite's multi-thread mode: no lock of its own
 * around a connection's calls), which is safe only because sqlite-jdbc synchronizes every native
 * call on the connection's {@code NativeDB}. A version of the driver that stopped doing so (trusting
 * SQLite's serialized mode instead) would let two threads into one connection: this fails first.
 */
class SqliteDriverLocksTest {

  /**
   * The two that need no lock: {@code interrupt} (sqlite3_interrupt only sets a flag, and is meant
   * to be called from another thread) and {@code libversion_utf8} (a constant of the library).
   */
  private static final List<String> UNLOCKED = List.of("interrupt", "libversion_utf8");

  @Test
  void everyNativeCallOnAConnectionIsSynchronizedOnIt() throws ClassNotFoundException {
    Class<?> nativeDb = Class.forName("org.sqlite.core.NativeDB");
    List<Method> natives = Arrays.stream(nativeDb.getDeclaredMethods())
        .filter(m -> Modifier.isNative(m.getModifiers()) && !Modifier.isStatic(m.getModifiers()))
        .toList();

    assertThat(natives).hasSizeGreaterThan(40);
    assertThat(natives.stream().filter(m -> !Modifier.isSynchronized(m.getModifiers())).map(Method::getName))
        .containsExactlyInAnyOrderElementsOf(UNLOCKED);
  }
}
