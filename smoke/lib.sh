# Sourced by the smoke scripts: the built jar, a work folder removed at exit, a free loopback
# port, a server process killed at exit, and one way to fail. Set SMOKE to the script's name first.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jar="$here/target/meterd.jar"
[ -f "$jar" ] || { echo "$SMOKE: $jar is missing; run mvn -B package first" >&2; exit 2; }
work=$(mktemp -d)
pid=
log=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "$SMOKE: FAILED: $*" >&2; [ -n "$log" ] && [ -f "$log" ] && tail -20 "$log" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Sends SIGTERM to the server and fails unless it exits 0.
stop_server() {
  kill -TERM "$pid"
  set +e
  wait "$pid"
  local code=$?
  set -e
  pid=
  [ "$code" = 0 ] || fail "the server exited $code after SIGTERM"
}
