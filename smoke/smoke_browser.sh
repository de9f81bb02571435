#!/usr/bin/env bash
# The admin pages in a real browser: headless Chromium (Debian's package, installed by .ci/run)
# logs in, loads the overview, the aggregator and the users, saves screenshots, and asserts on
# the rendered DOM. Screenshots stay in $METERD_SCREENSHOTS (default: a temp folder, printed).
set -euo pipefail

SMOKE=smoke_browser
source "$(dirname "$0")/lib.sh"
command -v "${CHROMIUM:-chromium}" > /dev/null || { echo "smoke_browser: chromium is not installed (.ci/run installs it)" >&2; exit 2; }
shots=${METERD_SCREENSHOTS:-$(mktemp -d)}
mkdir -p "$shots"
log="$work/serve.log"

# The checker's one dependency, pinned in smoke/browser/package.json, from the npm registry.
(cd "$here/smoke/browser" && npm install --no-audit --no-fund --silent > /dev/null)

cd "$work"
git init -q --bare -b main usage.git
git clone -q usage.git clone 2>/dev/null
(
  cd clone
  git config user.email smoke@localhost && git config user.name smoke
  mkdir -p nodes/A nodes/B
  printf 'schema = 1\n[[records]]\nidempotency_key = "a1"\nuser_sid = "<script>alert(1)</script>"\ncost_cents = 10\noccurred_at = 2026-11-21T10:00:03Z\n\n[[records]]\nidempotency_key = "a2"\nuser_sid = "u_2"\ncost_cents = 5\noccurred_at = 2026-11-21T10:00:04Z\n' \
    > nodes/A/usage_2026-11-21-10.toml
  printf 'schema = 1\n[[records]]\nidempotency_key = "b1"\nuser_sid = "u_3"\ncost_cents = -5\noccurred_at = 2026-11-21T10:00:00Z\n' \
    > nodes/B/usage_2026-11-21-10.toml
  git add -A && git commit -qm seed && git push -q origin main
)
port=$(free_port)
token="browser-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
printf '[source]\nurl = "%s"\n[storage]\npath = "%s"\n[aggregator]\ninterval_seconds = 3600\n[http]\nlisten = "127.0.0.1:%s"\n' \
  "$work/usage.git" "$work/meterd.db" "$port" > meterd.toml
METERD_ADMIN_TOKEN="$token" java -jar "$jar" serve --config meterd.toml > serve.log 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  state=$(curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:$port/admin/aggregator-state" || true)
  [[ "$state" == *'"halted"'* ]] && break
  sleep 0.2
done
[[ "$state" == *'"halted"'* ]] || fail "the first run did not finish: $state"

node "$here/smoke/browser/check.mjs" "http://127.0.0.1:$port" "$token" "$shots" || fail "the browser check failed"
for s in overview aggregator users; do [ -s "$shots/$s.png" ] || fail "no screenshot $s.png"; done
stop_server
echo "smoke_browser: ok (screenshots in $shots)"
