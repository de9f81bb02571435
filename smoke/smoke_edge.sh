#!/usr/bin/env bash
# The edge side, as two node operators would run it: each node has its own clone of one bare
# usage repository; both `meterd record` and `meterd push` at the same time, several rounds (so
# pushes race and some are rebased and retried); then `aggregate --once` debits exactly the sum
# of what they recorded, and a second push and run change nothing.
set -euo pipefail

SMOKE=smoke_edge
source "$(dirname "$0")/lib.sh"
cd "$work"
json() { python3 -c "import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); print($1)"; }

git init -q --bare -b main usage.git
git clone -q usage.git seed 2>/dev/null
(cd seed && git -c user.email=s@localhost -c user.name=seed commit -q --allow-empty -m start && git push -q origin main)

node_rounds() { # node: 5 rounds of 3 records and a push; prints the cents it recorded
  local node=$1 total=0
  git clone -q usage.git "$node" 2>/dev/null
  for round in 1 2 3 4 5; do
    for cost in 7 11 13; do
      java -jar "$jar" record --node "$node" --repo "$node" --user "u_$cost" --cost-cents "$cost" \
        --resource llm.tokens --quantity "$round" > /dev/null || return 1
      total=$((total + cost))
    done
    printf '{"user_sid":"u_bulk","cost_cents":%d}\n{"user_sid":"u_bulk","cost_cents":1}\n' "$round" \
      | java -jar "$jar" record --node "$node" --repo "$node" > /dev/null || return 1
    total=$((total + round + 1))
    java -jar "$jar" push --node "$node" --repo "$node" > "push-$node-$round.json" 2>> "$node.log" || return 1
  done
  echo "$total" > "$node.total"
}

node_rounds edge-a > /dev/null 2> edge-a.err & a=$!
node_rounds edge-b > /dev/null 2> edge-b.err & b=$!
wait "$a" || { log=edge-a.err; fail "node edge-a"; }
wait "$b" || { log=edge-b.err; fail "node edge-b"; }
expected=$(( $(cat edge-a.total) + $(cat edge-b.total) ))
retried=$(cat push-*.json | python3 -c "import json,sys; print(sum(json.loads(l)['attempts'] > 1 for l in sys.stdin))")

out=$(java -jar "$jar" aggregate --once --db meterd.db --source usage.git 2>> aggregate.log) || { log=aggregate.log; fail "aggregate exited $?"; }
[ "$(echo "$out" | json 'd["records_consumed"]')" = 50 ] || fail "records consumed: $out"
[ "$(echo "$out" | json 'd["debited_cents"]')" = "$expected" ] || fail "debited $(echo "$out" | json 'd["debited_cents"]'), recorded $expected"
[ "$(echo "$out" | json 'd["nodes_halted"]')" = 0 ] || fail "a node halted: $out"

push=$(java -jar "$jar" push --node edge-a --repo edge-a) || fail "a second push exited $?"
[ "$(echo "$push" | json 'd["committed"]')" = 0 ] || fail "a second push committed: $push"
out=$(java -jar "$jar" aggregate --once --db meterd.db --source usage.git 2>> aggregate.log) || fail "second aggregate exited $?"
[ "$(echo "$out" | json 'd["records_consumed"]')" = 0 ] || fail "second run consumed: $out"

echo "smoke_edge: ok ($expected cents from 50 records of 2 nodes; $retried of 10 pushes rebased and retried)"
