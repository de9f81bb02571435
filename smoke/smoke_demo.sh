#!/usr/bin/env bash
# `serve --demo` on a fresh machine: it prints a token and the admin page's address, its writer
# keeps committing, and the balances move between two looks; within a few minutes its story has
# played (u_alice's budget alert fired, u_carol's top-up requested and paid, node edge-lab-1
# halted on a bad record and resumed on its fix); SIGTERM stops it with exit 0.
set -euo pipefail

SMOKE=smoke_demo
source "$(dirname "$0")/lib.sh"
cd "$work"
log="$work/err.txt"
port=$(free_port)
printf '[http]\nlisten = "127.0.0.1:%s"\n' "$port" > demo.toml
java -jar "$jar" serve --demo --config demo.toml > out.txt 2> err.txt &
pid=$!
for _ in $(seq 1 100); do grep -q "log in with the token" out.txt 2>/dev/null && break; sleep 0.2; done
grep -q "open http://127.0.0.1:$port/admin/ui/login" out.txt || fail "no address printed: $(cat out.txt)"
token=$(awk '/admin token/ {print $NF}' out.txt)
[ -n "$token" ] || fail "no token printed"

total() {
  curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:$port/admin/list-users" \
    | python3 -c 'import json,sys; print(sum(w["balance_cents"] for w in json.load(sys.stdin)["wallets"]))'
}
sleep 2
first=$(total)
moved=
for _ in $(seq 1 30); do
  sleep 1
  [ "$(total)" != "$first" ] && { moved=yes; break; }
done
[ -n "$moved" ] || fail "balances did not move in 30 s (total stayed $first)"
api() { curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:$port$1"; }
played=
for _ in $(seq 1 180); do
  alerts=$(api /admin/alerts)
  payments=$(api /admin/list-payments)
  events=$(api "/admin/webhooks/deliveries?limit=500")
  lab=$(api /admin/aggregator-state | python3 -c 'import json,sys; print([n["status"] for n in json.load(sys.stdin)["nodes"] if n["node"] == "edge-lab-1"])')
  if [[ "$alerts" == *'"user_sid":"u_alice"'* && "$payments" == *'"initiated_by":"demo-payments"'* \
    && "$events" == *'"node.halted"'* && "$events" == *'"node.resumed"'* && "$lab" == "['ok']" ]]; then
    played=yes
    break
  fi
  sleep 1
done
[ -n "$played" ] || fail "the demo's story did not play in 180 s: alerts $alerts; payments $payments; lab node $lab"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/admin/ui/")
[ "$code" = 303 ] || fail "the pages answered $code without a login"

stop_server
echo "smoke_demo: ok"
