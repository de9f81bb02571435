#!/usr/bin/env bash
# The daemon end to end: starts the jar with `serve` on a free port against a seeded repository,
# checks 401, triggers a run, checks the node state and a wallet, then SIGTERM and exit code 0.
set -euo pipefail

SMOKE=smoke_serve
source "$(dirname "$0")/lib.sh"
cd "$work"
log="$work/serve.log"
port=$(free_port)
token="smoke-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
cat > meterd.toml <<TOML
[source]
url = "$work/usage.git"
[storage]
path = "$work/meterd.db"
[aggregator]
interval_seconds = 3600
[http]
listen = "127.0.0.1:$port"
TOML

java -jar "$jar" demo-repo "$work/usage.git" --config meterd.toml 2>/dev/null
METERD_ADMIN_TOKEN="$token" java -jar "$jar" serve --config meterd.toml > serve.log 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/health" > /dev/null 2>&1 && break
  sleep 0.2
done
[ "$(curl -s "http://127.0.0.1:$port/health")" = '{"status":"ok"}' ] || fail "health"

code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/admin/aggregate-now")
[ "$code" = 401 ] || fail "no token gave $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer wrong-token-123456" \
  "http://127.0.0.1:$port/admin/aggregator-state")
[ "$code" = 401 ] || fail "a wrong token gave $code"

auth=(-H "Authorization: Bearer $token")
# The daemon runs once at start; a trigger while that run holds the lock answers 409, so the
# trigger is sent again until the start-up run has let go (at most 20 s).
for _ in $(seq 1 100); do
  code=$(curl -s -o "$work/summary.json" -w '%{http_code}' "${auth[@]}" -X POST "http://127.0.0.1:$port/admin/aggregate-now")
  [ "$code" = 409 ] || break
  sleep 0.2
done
[ "$code" = 200 ] || fail "aggregate-now gave $code: $(cat "$work/summary.json")"
summary=$(cat "$work/summary.json")
python3 -c "import json,sys; d=json.loads(sys.argv[1]); assert d['nodes_total']==3 and d['nodes_halted']==0, d" "$summary" \
  || fail "run summary: $summary"
state=$(curl -s "${auth[@]}" "http://127.0.0.1:$port/admin/aggregator-state")
python3 -c "import json,sys; d=json.loads(sys.argv[1]); assert [n['status'] for n in d['nodes']]==['ok']*3, d" "$state" \
  || fail "state: $state"
wallet=$(curl -s "${auth[@]}" "http://127.0.0.1:$port/admin/wallets/u_alice")
python3 -c "import json,sys; d=json.loads(sys.argv[1]); assert d['balance_cents']==-sum(-t['amount_cents'] for t in d['transactions']), d" "$wallet" \
  || fail "wallet: $wallet"
curl -s "http://127.0.0.1:$port/metrics" | grep -q '^meterd_records_consumed_total 30.0' || fail "metrics"
grep -q "$token" serve.log && fail "the token appears in the log"

stop_server
grep -q "meterd stopped" serve.log || fail "no clean stop in the log"
echo "smoke_serve: ok"
