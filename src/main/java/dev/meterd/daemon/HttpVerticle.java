package dev.meterd.daemon;

import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.ext.web.Router;
import java.util.function.Function;

/** The HTTP server: the admin API, /health and /metrics. */
final class HttpVerticle extends VerticleBase {

  private final String host;
  private final int port;
  private final Function<io.vertx.core.Vertx, Router> routes;
  private HttpServer server;

  HttpVerticle(String host, int port, Function<io.vertx.core.Vertx, Router> routes) {
    this.host = host;
    this.port = port;
    this.routes = routes;
  }

  @Override
  public Future<?> start() {
    server = vertx.createHttpServer(new HttpServerOptions().setHost(host).setPort(port)
        .setIdleTimeout(60).setMaxHeaderSize(16 * 1024));
    return server.requestHandler(routes.apply(vertx)).listen();
  }

  int actualPort() {
    return server.actualPort();
  }

  @Override
  public Future<?> stop() {
    return server == null ? Future.succeededFuture() : server.close();
  }
}
