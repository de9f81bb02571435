package dev.meterd.cli;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;

/**
 * A small HTTP/1.1 load generator, as wrk is one: a single thread drives many keep-alive
 * connections with non-blocking sockets, one request in flight on each (no pipelining), and times
 * each request from its first byte written to the last byte of its answer read. Lean on purpose:
 * it runs on the machine it measures, and every cycle it spends is one the server does not get.
 *
 * <p>It reads exactly what meterd answers: a status line, headers with {@code content-length},
 * and that many bytes of body. Anything else (a closed connection, chunked encoding, no length)
 * ends the run with an error rather than a figure.
 */
final class HttpLoad implements AutoCloseable {

  /** What one run saw: each request's latency, by request number, and the answers by status. */
  record Result(long[] latenciesNanos, long status200, long status402, long otherStatus) {}

  private static final int BUFFER_BYTES = 16 * 1024;
  private static final byte[] HEADERS_END = {'\r', '\n', '\r', '\n'};
  private static final byte[] CONTENT_LENGTH = "content-length:".getBytes(StandardCharsets.US_ASCII);

  /** One connection and the request on it. */
  private static final class Lane {
    final SocketChannel channel;
    final SelectionKey key;
    final ByteBuffer in = ByteBuffer.allocate(BUFFER_BYTES);
    ByteBuffer out;
    int request = -1;
    long startNanos;

    Lane(SocketChannel channel, SelectionKey key) {
      this.channel = channel;
      this.key = key;
    }
  }

  private final Selector selector;
  private final List<Lane> lanes = new ArrayList<>();

  HttpLoad(InetSocketAddress server, int connections) throws IOException {
    selector = Selector.open();
    for (int i = 0; i < connections; i++) {
      SocketChannel channel = SocketChannel.open(server);
      channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
      channel.configureBlocking(false);
      Lane lane = new Lane(channel, channel.register(selector, 0));
      lane.key.attach(lane);
      lanes.add(lane);
    }
  }

  /**
   * Sends requests 0 to {@code total - 1}, each connection sending its next as soon as its last is
   * answered.
   *
   * @param request the bytes of request number i
   */
  Result run(int total, IntFunction<byte[]> request) throws IOException {
    long[] latencies = new long[total];
    long[] statuses = new long[3];
    int next = 0;
    int done = 0;
    for (Lane lane : lanes) {
      if (next < total) {
        send(lane, next++, request);
      }
    }
    while (done < total) {
      selector.select();
      for (SelectionKey key : selector.selectedKeys()) {
        Lane lane = (Lane) key.attachment();
        if (key.isWritable()) {
          flush(lane);
        }
        if (key.isReadable()) {
          int status = read(lane);
          if (status > 0) {
            latencies[lane.request] = System.nanoTime() - lane.startNanos;
            statuses[status == 200 ? 0 : status == 402 ? 1 : 2]++;
            done++;
            lane.request = -1;
            if (next < total) {
              send(lane, next++, request);
            }
          }
        }
      }
      selector.selectedKeys().clear();
    }
    return new Result(latencies, statuses[0], statuses[1], statuses[2]);
  }

  private void send(Lane lane, int number, IntFunction<byte[]> request) throws IOException {
    lane.request = number;
    lane.out = ByteBuffer.wrap(request.apply(number));
    lane.startNanos = System.nanoTime();
    flush(lane);
  }

  private void flush(Lane lane) throws IOException {
    lane.channel.write(lane.out);
    lane.key.interestOps(lane.out.hasRemaining() ? SelectionKey.OP_WRITE | SelectionKey.OP_READ : SelectionKey.OP_READ);
  }

  /** Reads what is there; the answer's status once it is complete, else 0. */
  private static int read(Lane lane) throws IOException {
    if (lane.channel.read(lane.in) < 0) {
      throw new IOException("the server closed a keep-alive connection during the run");
    }
    byte[] bytes = lane.in.array();
    int length = lane.in.position();
    int headersEnd = indexOf(bytes, length, HEADERS_END);
    if (headersEnd < 0) {
      if (!lane.in.hasRemaining()) {
        throw new IOException("an answer's headers are over " + BUFFER_BYTES + " bytes");
      }
      return 0;
    }
    int end = headersEnd + HEADERS_END.length + contentLength(bytes, headersEnd);
    if (length < end) {
      return 0;
    }
    if (length > end) {
      throw new IOException("the server sent more than one answer to one request");
    }
    lane.in.clear();
    // "HTTP/1.1 200 OK": the status is the three digits after the first space.
    return (bytes[9] - '0') * 100 + (bytes[10] - '0') * 10 + (bytes[11] - '0');
  }

  private static int contentLength(byte[] bytes, int headersEnd) throws IOException {
    for (int i = 0; i + CONTENT_LENGTH.length <= headersEnd; i++) {
      if (matchesIgnoringCase(bytes, i, CONTENT_LENGTH)) {
        int value = 0;
        int j = i + CONTENT_LENGTH.length;
        while (bytes[j] == ' ') {
          j++;
        }
        while (bytes[j] >= '0' && bytes[j] <= '9') {
          value = value * 10 + (bytes[j++] - '0');
        }
        return value;
      }
    }
    throw new IOException("an answer came without content-length");
  }

  private static boolean matchesIgnoringCase(byte[] bytes, int at, byte[] lowerCase) {
    for (int k = 0; k < lowerCase.length; k++) {
      byte b = bytes[at + k];
      if (b >= 'A' && b <= 'Z') {
        b += 'a' - 'A';
      }
      if (b != lowerCase[k]) {
        return false;
      }
    }
    return true;
  }

  private static int indexOf(byte[] bytes, int length, byte[] needle) {
    outer:
    for (int i = 0; i + needle.length <= length; i++) {
      for (int k = 0; k < needle.length; k++) {
        if (bytes[i + k] != needle[k]) {
          continue outer;
        }
      }
      return i;
    }
    return -1;
  }

  @Override
  public void close() throws IOException {
    for (Lane lane : lanes) {
      lane.channel.close();
    }
    selector.close();
  }
}
