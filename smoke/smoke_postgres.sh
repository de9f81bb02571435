#!/usr/bin/env bash
# meterd on PostgreSQL as the README sets it up: a user with a password, a database it owns, the
# configuration's [storage] kind = "postgres", the password in METERD_DB_PASSWORD. Two
# `aggregate --once` at the same moment share the nodes (each charged once), `verify` is green,
# `serve` names itself and who holds each node, and the password appears in no output.
# The server is a throwaway one from the machine's binaries (as user postgres when run as root).
set -euo pipefail

SMOKE=smoke_postgres
source "$(dirname "$0")/lib.sh"
cd "$work"
chmod 755 "$work"
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bin" ] || fail "no PostgreSQL binaries under /usr/lib/postgresql (apt-get install postgresql)"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
mkdir -m 777 pg-socket
pg_port=$(free_port)
as_pg "$bin/initdb" -D "$work/pg-socket/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
  --locale=C -E UTF8 > initdb.log 2>&1 || fail "initdb: $(tail -3 initdb.log)"
stop_pg() { as_pg "$bin/pg_ctl" -D "$work/pg-socket/data" -m fast stop > /dev/null 2>&1 || true; }
trap 'stop_pg; cleanup' EXIT
as_pg "$bin/pg_ctl" -D "$work/pg-socket/data" -l "$work/pg-socket/pg.log" -w \
  -o "-p $pg_port -k $work/pg-socket -c listen_addresses=127.0.0.1" start > /dev/null || fail "pg_ctl start"
password="smoke-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
as_pg "$bin/psql" -h "$work/pg-socket" -p "$pg_port" -U postgres -q \
  -c "CREATE USER meterd PASSWORD '$password'" -c "CREATE DATABASE meterd OWNER meterd" > /dev/null

git init -q --bare -b main usage.git
git clone -q usage.git clone 2>/dev/null
cd clone
git config user.email smoke@localhost
git config user.name smoke
for n in $(seq 1 40); do
  mkdir -p "nodes/edge-$n"
  {
    echo 'schema = 1'
    for r in 1 2 3; do
      printf '\n[[records]]\nidempotency_key = "n%s-%s"\nuser_sid = "u_%s"\ncost_cents = %s\noccurred_at = 2026-11-21T10:00:03Z\n' \
        "$n" "$r" "$((n % 4))" "$((n + r))"
    done
  } > "nodes/edge-$n/usage_2026-11-21-10.toml"
done
git add -A && git commit -qm seed && git push -q origin main
cd ..

token=smoke-admin-token-0123456789
port=$(free_port)
cat > meterd.toml <<TOML
[source]
url = "$work/usage.git"

[storage]
kind = "postgres"
url = "jdbc:postgresql://127.0.0.1:$pg_port/meterd"
user = "meterd"
lease_seconds = 5

[http]
listen = "127.0.0.1:$port"
TOML
export METERD_DB_PASSWORD="$password"
meterd() { java -jar "$jar" --config meterd.toml "$@"; }
json() { python3 -c "import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); print($1)"; }

meterd aggregate --once > run1.out 2> run1.err &
first=$!
meterd aggregate --once > run2.out 2> run2.err &
second=$!
wait "$first" || fail "the first aggregate exited $?: $(tail -3 run1.err)"
wait "$second" || fail "the second aggregate exited $?: $(tail -3 run2.err)"
consumed=$(( $(json 'd["records_consumed"]' < run1.out) + $(json 'd["records_consumed"]' < run2.out) ))
[ "$consumed" = 120 ] || fail "the two runs consumed $consumed records between them, not 120"
total=0
for u in 0 1 2 3; do
  total=$(( total - $(meterd wallet show "u_$u" | json 'd["balance_cents"]') ))
done
[ "$total" = $(( (40 * 41 / 2) * 3 + 40 * 6 )) ] || fail "the wallets were charged $total cents"
meterd verify > verify.out || fail "verify exited $?: $(cat verify.out)"

log="$work/serve.log"
METERD_ADMIN_TOKEN="$token" java -jar "$jar" serve --config meterd.toml > serve.log 2>&1 &
pid=$!
for _ in $(seq 1 200); do
  curl -sf "http://127.0.0.1:$port/health" > /dev/null 2>&1 && break
  sleep 0.1
done
state=$(curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port/admin/aggregator-state") \
  || fail "aggregator-state"
echo "$state" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["daemon"], d
assert len(d["nodes"]) == 40, len(d["nodes"])
assert all(n["held_by"] is None and n["records_consumed_total"] == 3 for n in d["nodes"]), d
' || fail "aggregator-state: $state"
curl -s "http://127.0.0.1:$port/metrics" | grep -q '^meterd_lease_takeovers_total{daemon=' || fail "lease metrics"
stop_server

if grep -rqF "$password" --exclude-dir=pg-socket --exclude-dir=usage.git --exclude-dir=clone "$work"; then
  fail "the database password appears in meterd's output"
fi
echo "$SMOKE: ok"
