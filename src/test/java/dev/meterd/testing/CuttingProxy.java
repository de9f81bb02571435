package dev.meterd.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;

/**
 * A TCP proxy on a loopback port in front of a PostgreSQL server, that can cut the connection on
 * which a client sends its next COMMIT: before the server has it (nothing committed), or once the
 * server has answered it (committed, though the client never hears so). The client must send the
 * statement's text each time: connect with {@code prepareThreshold=0}, or the driver switches to a
 * named statement the proxy cannot read.
 */
public final class CuttingProxy implements AutoCloseable {

  /** Where the next COMMIT is cut. */
  public enum Cut {
    /** The COMMIT never reaches the server, which rolls the transaction back when the connection closes. */
    BEFORE_THE_SERVER_HAS_IT,
    /** The server commits and answers; the answer never reaches the client. */
    AFTER_THE_SERVER_ANSWERED
  }

  /** "COMMIT" and its terminating zero, as a Parse message and the CommandComplete answer carry it. */
  private static final byte[] COMMIT = "COMMIT\0".getBytes(StandardCharsets.US_ASCII);
  /**
   * What a group's transaction sends before its COMMIT (the driver sends each statement's text when
   * it prepares no server-side statements, {@code prepareThreshold=0}): the COMMITs of other
   * transactions, such as a run's claims of its nodes' leases, pass.
   */
  private static final byte[] CONSUMED_INSERT = "INSERT INTO consumed_newest".getBytes(StandardCharsets.US_ASCII);

  private final int targetPort;
  private final ServerSocket listener;
  private final List<Socket> sockets = new CopyOnWriteArrayList<>();
  private volatile Cut armed;
  /** Counted down when a COMMIT was cut. */
  public final CountDownLatch cut = new CountDownLatch(1);

  public CuttingProxy(int targetPort) throws IOException {
    this.targetPort = targetPort;
    this.listener = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"));
    Thread accept = new Thread(this::acceptLoop, "cutting-proxy-accept");
    accept.setDaemon(true);
    accept.start();
  }

  public int port() {
    return listener.getLocalPort();
  }

  /**
   * The next COMMIT of a transaction that wrote consumed records (a group's) is cut as {@code
   * where} says; later ones, and other transactions' COMMITs, pass.
   */
  public void cutNextCommit(Cut where) {
    armed = where;
  }

  private void acceptLoop() {
    while (!listener.isClosed()) {
      try {
        Socket client = listener.accept();
        Socket server = new Socket(InetAddress.getByName("127.0.0.1"), targetPort);
        sockets.add(client);
        sockets.add(server);
        Pair pair = new Pair(client, server);
        start(() -> pair.pump(client, server, true), "cutting-proxy-up");
        start(() -> pair.pump(server, client, false), "cutting-proxy-down");
      } catch (IOException e) {
        // The listener closed: the proxy is done.
      }
    }
  }

  private static void start(Runnable pump, String name) {
    Thread t = new Thread(pump, name);
    t.setDaemon(true);
    t.start();
  }

  /** One client's connection and the server's side of it. */
  private final class Pair {
    private final Socket client;
    private final Socket server;
    /** The client's COMMIT went to the server, and its answer is to be swallowed. */
    private volatile boolean swallowAnswer;
    /** The client's transaction in progress wrote consumed records. */
    private boolean wroteRecords;

    Pair(Socket client, Socket server) {
      this.client = client;
      this.server = server;
    }

    void pump(Socket from, Socket to, boolean upstream) {
      byte[] buffer = new byte[65_536];
      try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
        int n;
        while ((n = in.read(buffer)) > 0) {
          if (upstream && contains(buffer, n, CONSUMED_INSERT)) {
            wroteRecords = true;
          }
          boolean commit = upstream && contains(buffer, n, COMMIT);
          boolean groupCommit = commit && wroteRecords;
          if (commit) {
            wroteRecords = false;
          }
          if (groupCommit && armed != null) {
            Cut where = armed;
            armed = null;
            if (where == Cut.BEFORE_THE_SERVER_HAS_IT) {
              cutBoth();
              return;
            }
            swallowAnswer = true;
          } else if (!upstream && swallowAnswer && contains(buffer, n, COMMIT)) {
            cutBoth();
            return;
          }
          out.write(buffer, 0, n);
          out.flush();
        }
      } catch (IOException e) {
        // One side closed or was cut: the other side is closed below.
      }
      closeQuietly(client);
      closeQuietly(server);
    }

    private void cutBoth() {
      closeQuietly(client);
      closeQuietly(server);
      cut.countDown();
    }
  }

  private static boolean contains(byte[] buffer, int length, byte[] needle) {
    outer:
    for (int i = 0; i + needle.length <= length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (buffer[i + j] != needle[j]) {
          continue outer;
        }
      }
      return true;
    }
    return false;
  }

  private static void closeQuietly(Socket socket) {
    try {
      socket.close();
    } catch (IOException e) {
      // Closing is all that is wanted; a socket already closed is as good.
    }
  }

  @Override
  public void close() throws IOException {
    listener.close();
    for (Socket s : sockets) {
      closeQuietly(s);
    }
  }
}
