# The admin pages in a real browser: headless Chromium (Debian's package, installed by .ci/run)
# logs in and visits every page (overview, aggregator, users, alerts, top-ups due, a wallet with
# its holds and forms, payments, webhook deliveries), saves screenshots, and asserts on the
# rendered DOM.
# Wallet u_2 has a budget, a daily cap and auto top-up set before the first run, so that its
# record fires alerts, is partly waived and requests a top-up. A webhook receiver verifies every
# event with the Standard Webhooks reference library; it is down (500) until the halted node's
# event is given up (after 1 s), then up, and the page's Retry button delivers the event.
# Screenshots stay in $METERD_SCREENSHOTS (default: a temp folder, printed).
set -euo pipefail

SMOKE=smoke_browser
source "$(dirname "$0")/lib.sh"
command -v "${CHROMIUM:-chromium}" > /dev/null || { echo "smoke_browser: chromium is not installed (.ci/run installs it)" >&2; exit 2; }
shots=${METERD_SCREENSHOTS:-$(mktemp -d)}
mkdir -p "$shots"
log="$work/serve.log"

# The checker's and the receiver's dependencies, pinned in smoke/browser/package.json, from the npm registry.
(cd "$here/smoke/browser" && npm install --no-audit --no-fund --silent > /dev/null)

cd "$work"
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
git init -q --bare -b main usage.git
git clone -q usage.git clone 2>/dev/null
(
  cd clone
  git config user.email smoke@localhost && git config user.name smoke
  mkdir -p nodes/A nodes/B
  # Node A's records occurred now, so that the charts of the last 48 hours and 30 days show them.
  printf 'schema = 1\n[[records]]\nidempotency_key = "a1"\nuser_sid = "<script>alert(1)</script>"\ncost_cents = 10\noccurred_at = %s\n\n[[records]]\nidempotency_key = "a2"\nuser_sid = "u_2"\ncost_cents = 5\noccurred_at = %s\n' \
    "$now" "$now" > "nodes/A/usage_$(date -u +%Y-%m-%d-%H).toml"
  printf 'schema = 1\n[[records]]\nidempotency_key = "b1"\nuser_sid = "u_3"\ncost_cents = -5\noccurred_at = 2026-11-21T10:00:00Z\n' \
    > nodes/B/usage_2026-11-21-10.toml
  git add -A && git commit -qm seed && git push -q origin main
)
port=$(free_port)
hook_port=$(free_port)
token="browser-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
secret="whsec_$(python3 -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())')"
touch "$work/receiver-down"
node "$here/smoke/browser/receiver.mjs" "$hook_port" "$secret" "$work/hooks.log" "$work/receiver-down" &
receiver=$!
trap 'kill "$receiver" 2>/dev/null; cleanup' EXIT
# meterd's first attempt must find the receiver listening: a connection opened and closed is no request.
for _ in $(seq 1 100); do (: > "/dev/tcp/127.0.0.1/$hook_port") 2>/dev/null && break; sleep 0.1; done
printf '[source]\nurl = "%s"\n[storage]\npath = "%s"\n[aggregator]\ninterval_seconds = 3600\n[http]\nlisten = "127.0.0.1:%s"\n[notify]\nwebhook_url = "http://127.0.0.1:%s/hook"\ngive_up_after_seconds = 1\n' \
  "$work/usage.git" "$work/meterd.db" "$port" "$hook_port" > meterd.toml
# Budget 5 cents, daily cap 4, a top-up of $5.00 below $1.00: u_2's 5-cent record is charged 4
# (80 %: alerts at 50 and 80), waived 1, and leaves it below the threshold.
METERD_WEBHOOK_SECRET="$secret" java -jar "$jar" wallet set u_2 --config meterd.toml --monthly-budget 5 --daily-cap 4 --auto-topup-threshold 100 \
  --auto-topup-amount 500 > /dev/null || fail "wallet set u_2 failed"
METERD_ADMIN_TOKEN="$token" METERD_WEBHOOK_SECRET="$secret" java -jar "$jar" serve --config meterd.toml > serve.log 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  state=$(curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:$port/admin/aggregator-state" || true)
  [[ "$state" == *'"halted"'* ]] && break
  sleep 0.2
done
[[ "$state" == *'"halted"'* ]] || fail "the first run did not finish: $state"
# Every event of the first run is given up before the receiver comes up: none is pending.
for _ in $(seq 1 150); do
  deliveries=$(curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:$port/admin/webhooks/deliveries?status=failed")
  pending=$(curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:$port/admin/webhooks/deliveries?status=pending")
  [[ "$deliveries" == *'"node.halted"'* && "$pending" == *'"deliveries":[]'* ]] && break
  sleep 0.2
done
[[ "$deliveries" == *'"node.halted"'* && "$pending" == *'"deliveries":[]'* ]] \
  || fail "the first run's webhooks were not all given up: $deliveries $pending"
rm "$work/receiver-down"
# A hold on u_2 (enforcement is off: placed though its balance is below zero), which the wallet
# page lists and the browser releases with its Release button.
hold=$(curl -s -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '{"user_sid":"u_2","amount_cents":3,"node":"A","idempotency_key":"smoke-hold","ttl_seconds":3600}' \
  "http://127.0.0.1:$port/v1/holds")
[[ "$hold" == *'"state":"active"'* ]] || fail "the hold on u_2 was not placed: $hold"

node "$here/smoke/browser/check.mjs" "http://127.0.0.1:$port" "$token" "$shots" || fail "the browser check failed"
for s in overview aggregator users alerts topups wallet wallet-credited payments deliveries-failed deliveries; do [ -s "$shots/$s.png" ] || fail "no screenshot $s.png"; done
# Every request the receiver got, each signed as the reference library verifies. The halted
# node's event: under one webhook-id, refused while the receiver was down (once or twice, as the
# worker's polls fell within the second before the give-up), and accepted once after the retry.
# The events of u_2's charge were written while it was down too, and given up.
python3 - "$work/hooks.log" <<'PY' || fail "the webhook receiver's log is not as expected: $(cat "$work/hooks.log")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert all(l["verified"] for l in lines), lines
halted = [l for l in lines if l["type"] == "node.halted"]
assert [l["status"] for l in halted] in ([500, 204], [500, 500, 204]), lines
assert len({l["id"] for l in halted}) == 1, lines
others = [l for l in lines if l["type"] != "node.halted"]
assert {l["type"] for l in others} >= {"alert.fired", "topup.requested", "wallet.depleted"}, lines
assert all(l["status"] == 500 for l in others), lines
PY
stop_server
echo "smoke_browser: ok (screenshots in $shots)"
