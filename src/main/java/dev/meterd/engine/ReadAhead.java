package dev.meterd.engine;

import dev.meterd.ledger.LedgerException;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Reads the run's nodes on a thread of its own, in order, into a bounded queue, while the writer
 * applies the ones before: the two cores parse and write at once, the order of the nodes is
 * unchanged, and memory stays bounded (by the queue's length and the reader's kept share).
 */
final class ReadAhead implements AutoCloseable {

  /**
   * The reader's thread ended with an error that is no node's failure (a claim the database
   * refused, a simulated crash): the run ends with it.
   */
  record Crashed(Throwable error) implements NodeReader.Prepared {
    @Override
    public String node() {
      return null;
    }
  }

  /** Every node was read. */
  record End() implements NodeReader.Prepared {
    @Override
    public String node() {
      return null;
    }
  }

  private static final End END = new End();

  private final NodeReader reader;
  private final BlockingQueue<NodeReader.Prepared> queue;
  private final Thread thread;
  private boolean ended;

  ReadAhead(NodeReader reader, List<NodeReader.Planned> plan, int capacity) {
    this(reader, plan, capacity, index -> true);
  }

  /** As the other, reading only the nodes {@code mayRead} lets it (by their index in the plan). */
  ReadAhead(NodeReader reader, List<NodeReader.Planned> plan, int capacity, java.util.function.IntPredicate mayRead) {
    this.reader = reader;
    this.queue = new ArrayBlockingQueue<>(capacity);
    this.thread = new Thread(() -> produce(plan, mayRead), "meterd-read-ahead");
    thread.setDaemon(true);
    thread.start();
  }

  private void produce(List<NodeReader.Planned> plan, java.util.function.IntPredicate mayRead) {
    try {
      for (int i = 0; i < plan.size(); i++) {
        reader.checkCancelled();
        if (!mayRead.test(i)) {
          continue;
        }
        NodeReader.Planned p = plan.get(i);
        NodeReader.Prepared prepared = reader.prepare(p);
        try {
          put(prepared);
        } catch (InterruptedException e) {
          reader.done(prepared);
          throw e;
        }
      }
      put(END);
    } catch (InterruptedException e) {
      // The run is stopping: what is queued is dropped by close().
    } catch (Throwable e) {
      // A simulated crash, a defect of the JVM: the writer ends the run with it, dropping what was read.
      List<NodeReader.Prepared> left = new java.util.ArrayList<>();
      queue.drainTo(left);
      left.forEach(reader::done);
      queue.offer(new Crashed(e));
    }
  }

  private void put(NodeReader.Prepared prepared) throws InterruptedException {
    while (!queue.offer(prepared, NodeReader.WAIT_CHECK_MS, TimeUnit.MILLISECONDS)) {
      reader.checkCancelled();
    }
  }

  /**
   * The next node, waiting at most {@code timeoutNanos} for it; null if none came in that time,
   * and null after the last.
   */
  NodeReader.Prepared poll(long timeoutNanos) throws InterruptedException {
    return ended ? null : check(queue.poll(Math.max(0, timeoutNanos), TimeUnit.NANOSECONDS));
  }

  /** The next node, waiting for it; null after the last. */
  NodeReader.Prepared take() throws InterruptedException {
    while (!ended) {
      NodeReader.Prepared next = queue.poll(NodeReader.WAIT_CHECK_MS, TimeUnit.MILLISECONDS);
      if (next != null) {
        return check(next);
      }
      if (!thread.isAlive() && queue.isEmpty()) {
        // Its last words were lost (it died reporting an error): the run must not wait for ever.
        ended = true;
        throw new IllegalStateException("the node reader stopped before it read every node");
      }
    }
    return null;
  }

  /** Whether the reader has read every node and the writer taken them. */
  boolean ended() {
    return ended;
  }

  private NodeReader.Prepared check(NodeReader.Prepared next) {
    if (next == END) {
      ended = true;
      return null;
    }
    if (next instanceof Crashed crashed) {
      ended = true;
      if (crashed.error() instanceof Error error) {
        throw error;
      }
      if (crashed.error() instanceof LedgerException store) {
        // The claim of the next nodes failed (the database is unreachable): the run ends with the
        // store's error, as for any failure of the store outside a node's run, not as a defect.
        throw store;
      }
      throw new IllegalStateException("the node reader failed: " + crashed.error(), crashed.error());
    }
    return next;
  }

  /** Stops the reader and drops what it read ahead: its share of the heap, its spooled files. */
  @Override
  public void close() {
    reader.cancel();
    boolean interrupted = false;
    while (thread.isAlive()) {
      try {
        thread.join();
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    List<NodeReader.Prepared> left = new java.util.ArrayList<>();
    queue.drainTo(left);
    left.forEach(reader::done);
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }
}
