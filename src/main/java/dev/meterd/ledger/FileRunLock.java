package dev.meterd.ledger;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Optional;

/**
 * The run lock as an OS file lock on one file: released by the OS if the process dies, so a crash
 * never leaves the store locked.
 */
final class FileRunLock {

  private FileRunLock() {}

  /** Locks {@code lockFile} (creating it); empty when another process or run of this one holds it. */
  static Optional<RunLock> tryLock(Path lockFile) {
    FileChannel channel;
    try {
      channel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
    } catch (IOException e) {
      throw new LedgerException("cannot open the run lock " + lockFile + ": " + e.getMessage(), e);
    }
    try {
      FileLock lock = channel.tryLock();
      if (lock != null) {
        return Optional.of(() -> {
          try {
            lock.release();
            channel.close();
          } catch (IOException e) {
            throw new LedgerException("cannot release the run lock " + lockFile + ": " + e.getMessage(), e);
          }
        });
      }
    } catch (OverlappingFileLockException e) {
      // Another run of this very process holds it.
    } catch (IOException e) {
      closeQuietly(channel);
      throw new LedgerException("cannot take the run lock " + lockFile + ": " + e.getMessage(), e);
    }
    closeQuietly(channel);
    return Optional.empty();
  }

  private static void closeQuietly(FileChannel channel) {
    try {
      channel.close();
    } catch (IOException suppressed) {
      // Closing an unlocked channel only releases a descriptor; nothing depends on it.
    }
  }
}
