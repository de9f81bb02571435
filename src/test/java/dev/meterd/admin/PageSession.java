package dev.meterd.admin;

import static org.assertj.core.api.Assertions.assertThat;

import dev.meterd.testing.RunningDaemon;
import io.vertx.core.MultiMap;
import io.vertx.core.buffer.Buffer;
import io.vertx.ext.web.client.HttpResponse;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import org.jsoup.Jsoup;
import org.jsoup.nodes.Document;

/**
 * An admin logged in to the pages of a running daemon, as a browser is: the session cookie of
 * the login form, pages read with it, and forms posted with it and an Origin.
 */
final class PageSession {

  private final RunningDaemon daemon;
  private final String cookie;

  /** Logs in with {@code token} through the login form. */
  PageSession(RunningDaemon daemon, String token) throws Exception {
    this.daemon = daemon;
    HttpResponse<Buffer> login = RunningDaemon.get(daemon.request("POST", "/admin/ui/login", null)
        .sendForm(MultiMap.caseInsensitiveMultiMap().add("token", token)));
    assertThat(login.statusCode()).isEqualTo(303);
    cookie = login.cookies().get(0).substring(0, login.cookies().get(0).indexOf(';'));
  }

  /** A page that must answer 200. */
  Document get(String path) throws Exception {
    HttpResponse<Buffer> r = RunningDaemon.get(daemon.request("GET", path, null).putHeader("Cookie", cookie).send());
    assertThat(r.statusCode()).as(path + ": " + r.bodyAsString()).isEqualTo(200);
    return Jsoup.parse(r.bodyAsString());
  }

  /** A page's answer, whatever its status. */
  HttpResponse<Buffer> call(String path) throws Exception {
    return RunningDaemon.get(daemon.request("GET", path, null).putHeader("Cookie", cookie).send());
  }

  /** Posts a form to {@code path} as sent from {@code origin}. */
  HttpResponse<Buffer> post(String path, MultiMap form, String origin) throws Exception {
    return RunningDaemon.get(daemon.request("POST", path, null).putHeader("Cookie", cookie)
        .putHeader("Origin", origin).sendForm(form));
  }

  /**
   * Posts a form from the pages' own origin, which must answer with a redirect to {@code page}
   * and a notice; answers the notice.
   */
  String submit(String path, MultiMap form, String page) throws Exception {
    HttpResponse<Buffer> r = post(path, form, daemon.origin());
    assertThat(r.statusCode()).as(r.bodyAsString()).isEqualTo(303);
    String location = r.getHeader("Location");
    assertThat(location).startsWith(page + "?message=");
    return URLDecoder.decode(location.substring(location.indexOf('=') + 1), StandardCharsets.UTF_8);
  }
}
