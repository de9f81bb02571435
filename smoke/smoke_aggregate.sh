#!/usr/bin/env bash
# End to end, as an operator would: seeds a bare usage repository with nodes A and B, runs
# `aggregate --once` against the built jar, and checks balances, the consumed index, skipping,
# an appended record, and a bad file halting B while A goes on.
set -euo pipefail

SMOKE=smoke_aggregate
source "$(dirname "$0")/lib.sh"
cd "$work"
# What operators run holds no parser comparison: Jackson's databind and TOML module are test-only.
if unzip -l "$jar" | grep -Eq 'com/fasterxml/jackson/(databind|dataformat)/'; then
  fail "the runtime jar holds jackson-databind or jackson-dataformat-toml"
fi
meterd() { java -jar "$jar" --db "$work/meterd.db" --source "$work/usage.git" "$@"; }
json() { python3 -c "import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); print($1)"; }
sql() { python3 -c "import sqlite3,sys; print(sqlite3.connect('$work/meterd.db').execute(sys.argv[1]).fetchone()[0])" "$1"; }

record() { # key user cost
  printf '\n[[records]]\nidempotency_key = "%s"\nuser_sid = "%s"\ncost_cents = %s\noccurred_at = 2026-11-21T10:00:03Z\n' "$1" "$2" "$3"
}

git init -q --bare -b main usage.git
git clone -q usage.git clone 2>/dev/null
cd clone
git config user.email smoke@localhost
git config user.name smoke
mkdir -p nodes/A nodes/B
{ echo 'schema = 1'; record a1 u_1 100; record a2 u_2 250; record a3 u_1 5; } > nodes/A/usage_2026-11-21-10.toml
{ echo 'schema = 1'; record b1 u_2 40; record b2 u_3 60; } > nodes/B/usage_2026-11-21-10.toml
git add -A && git commit -qm seed && git push -q origin main
cd ..

out=$(meterd aggregate --once) || fail "first run exited $?"
[ "$(echo "$out" | json 'd["records_consumed"]')" = 5 ] || fail "first run consumed: $out"
[ "$(echo "$out" | json 'd["nodes_consumed"]')" = 2 ] || fail "first run nodes: $out"
[ "$(meterd wallet show u_1 | json 'd["balance_cents"]')" = -105 ] || fail "u_1 balance"
[ "$(meterd wallet show u_2 | json 'd["balance_cents"]')" = -290 ] || fail "u_2 balance"
[ "$(meterd wallet show u_3 | json 'd["balance_cents"]')" = -60 ] || fail "u_3 balance"
[ "$(sql 'SELECT count(*) FROM consumed_record')" = 5 ] || fail "consumed index"

out=$(meterd aggregate --once) || fail "second run exited $?"
[ "$(echo "$out" | json 'd["nodes_skipped"]')" = 2 ] || fail "second run did not skip both nodes: $out"
[ "$(echo "$out" | json 'd["records_consumed"]')" = 0 ] || fail "second run consumed: $out"

cd clone
record a4 u_3 7 >> nodes/A/usage_2026-11-21-10.toml
git commit -qam "A appends" && git push -q origin main
cd ..
out=$(meterd aggregate --once) || fail "third run exited $?"
[ "$(echo "$out" | json 'd["records_consumed"]')" = 1 ] || fail "third run: $out"
[ "$(echo "$out" | json 'd["records_duplicate"]')" = 3 ] || fail "third run duplicates: $out"
[ "$(echo "$out" | json 'd["nodes_skipped"]')" = 1 ] || fail "third run skipped: $out"
[ "$(meterd wallet show u_3 | json 'd["balance_cents"]')" = -67 ] || fail "u_3 after append"

cd clone
record a5 u_1 1 >> nodes/A/usage_2026-11-21-10.toml
printf 'schema = 1\n[[records]]\nidempotency_key = "b3"\nuser_sid = "u_2"\ncost_cents = -5\noccurred_at = 2026-11-21T11:00:00Z\n' \
  > nodes/B/usage_2026-11-21-11.toml
git add -A && git commit -qm "A appends, B breaks" && git push -q origin main
cd ..
set +e
out=$(meterd aggregate --once)
code=$?
set -e
[ "$code" = 1 ] || fail "a run with a halted node exited $code, not 1"
[ "$(echo "$out" | json 'd["nodes_halted"]')" = 1 ] || fail "halted count: $out"
[ "$(echo "$out" | json 'd["halted"][0]["node"]')" = B ] || fail "halted node: $out"
[ "$(echo "$out" | json 'd["halted"][0]["file"]')" = nodes/B/usage_2026-11-21-11.toml ] || fail "halted file: $out"
[ "$(echo "$out" | json 'd["halted"][0]["line"]')" = 5 ] || fail "halted line: $out"
[ "$(echo "$out" | json 'd["halted"][0]["error"]')" = "cost_cents must be >= 0, got -5" ] || fail "halted error: $out"
[ "$(echo "$out" | json 'd["records_consumed"]')" = 1 ] || fail "A's record with B halted: $out"
[ "$(meterd wallet show u_1 | json 'd["balance_cents"]')" = -106 ] || fail "u_1 after A's append"

status=$(meterd status)
[ "$(echo "$status" | json '[n["status"] for n in d["nodes"] if n["node"]=="B"][0]')" = halted ] || fail "status: $status"
[ "$(echo "$status" | json '[n["status"] for n in d["nodes"] if n["node"]=="A"][0]')" = ok ] || fail "status: $status"
[ "$(echo "$status" | json '[n["last_error"]["file"] for n in d["nodes"] if n["node"]=="B"][0]')" = nodes/B/usage_2026-11-21-11.toml ] \
  || fail "status error: $status"
[ "$(echo "$status" | json '[n["last_commit_sha"] for n in d["nodes"] if n["node"]=="A"][0]')" = \
  "$(git --git-dir usage.git log -1 --format=%H main -- nodes/A)" ] || fail "A's cursor is not git log's newest commit"

meterd verify > verify.json || fail "verify: $(cat verify.json)"
echo "smoke_aggregate: ok"
