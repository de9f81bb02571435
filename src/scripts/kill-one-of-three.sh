#!/usr/bin/env bash
# Three `meterd serve` on one throwaway PostgreSQL over REPO.git; the first is SIGKILLed in the
# middle of its run (once it has committed a node and holds claims on others). Waits until every
# record is consumed, stops the other two, runs `verify`, and proves from lease_log that no node
# was run under two claims: every claim's epoch is above the node's last, and every commit, halt or
# give-back directly follows its own claim.
#
#   src/scripts/kill-one-of-three.sh REPO.git [LEASE_SECONDS]      (default lease: 5 s)
set -euo pipefail

repo=${1:?usage: src/scripts/kill-one-of-three.sh REPO.git [LEASE_SECONDS]}
lease=${2:-5}
jar=$(cd "$(dirname "$0")/../.." && pwd)/target/meterd.jar
[[ -f $jar ]] || { echo "no $jar: run mvn -B package -DskipTests first" >&2; exit 2; }
source "$(dirname "$0")/lib-postgres.sh"

work=$(mktemp -d /tmp/meterd-kill-one.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  stop_throwaway_postgres
  rm -rf "$work"
}
trap cleanup EXIT
start_throwaway_postgres
psql() { psql_pg -d meterd "$@"; }
psql_pg -d postgres -c "CREATE DATABASE meterd" >/dev/null

expected=$(git --git-dir="$repo" grep -c '^\[\[records\]\]' HEAD -- nodes | awk -F: '{s += $NF} END {print s}')
echo "repository $repo: $expected records; lease $lease s; $(nproc) cores"
for i in 1 2 3; do
  cat > "$work/d$i.toml" <<TOML
[source]
url = "$repo"
clone_dir = "$work/clone-$i"

[storage]
kind = "postgres"
url = "jdbc:postgresql://127.0.0.1:$port/meterd"
user = "postgres"
lease_seconds = $lease

[aggregator]
interval_seconds = 1

[http]
listen = "127.0.0.1:$(free_port)"
TOML
  METERD_DB_PASSWORD= METERD_ADMIN_TOKEN=kill-one-admin-token-0123456789 \
    java -Xmx256m -jar "$jar" serve --config "$work/d$i.toml" > "$work/d$i.log" 2>&1 &
  pids+=($!)
done
start=$(date +%s.%N)
holder() { grep -o 'sharing the nodes with the other daemons of this database as [^ ]*' "$work/d$1.log" | awk '{print $NF}'; }
until [[ -n $(holder 1) ]]; do sleep 0.2; done
victim=$(holder 1)
until [[ $(psql -c "SELECT (SELECT count(*) FROM lease_log WHERE holder = '$victim' AND event = 'commit') > 0
    AND (SELECT count(*) FROM node_lease WHERE holder = '$victim') > 0" 2>/dev/null) == t ]]; do sleep 0.05; done
kill -9 "${pids[0]}"
killed_at=$(date +%s.%N)
orphans=$(psql -c "SELECT count(*) FROM node_lease WHERE holder = '$victim'")
echo "killed $victim after $(printf '%.1f' "$(echo "$killed_at - $start" | bc -l)") s, holding $orphans nodes;" \
  "it had committed $(psql -c "SELECT count(*) FROM lease_log WHERE holder = '$victim' AND event = 'commit'")"
until [[ $(psql -c "SELECT count(*) FROM consumed_record") == "$expected" ]]; do sleep 0.5; done
done_at=$(date +%s.%N)
for p in "${pids[@]:1}"; do kill -TERM "$p"; wait "$p" || { echo "a daemon exited $? after SIGTERM" >&2; exit 1; }; done
pids=()
echo "every record consumed $(printf '%.1f' "$(echo "$done_at - $start" | bc -l)") s after the start"

METERD_DB_PASSWORD= java -jar "$jar" verify --config "$work/d2.toml" > "$work/verify.json" \
  || { echo "verify failed:"; cat "$work/verify.json"; exit 1; }
echo "verify: $(tail -c 200 "$work/verify.json")"
twice=$(psql -c "SELECT count(*) FROM (SELECT node FROM lease_log WHERE event = 'commit' GROUP BY node HAVING count(*) > 1) t")
falling=$(psql -c "SELECT count(*) FROM (SELECT epoch, lag(epoch) OVER (PARTITION BY node ORDER BY seq) AS prev
    FROM lease_log WHERE event IN ('claim', 'takeover')) t WHERE epoch <= prev")
unclaimed=$(psql -c "SELECT count(*) FROM (SELECT event, epoch, holder,
      lag(event) OVER w AS prev_event, lag(epoch) OVER w AS prev_epoch, lag(holder) OVER w AS prev_holder
    FROM lease_log WINDOW w AS (PARTITION BY node ORDER BY seq)) t
    WHERE event IN ('commit', 'halt', 'release')
      AND (prev_event IS NULL OR prev_event NOT IN ('claim', 'takeover') OR prev_epoch <> epoch OR prev_holder <> holder)")
taken=$(psql -c "SELECT count(*) FROM lease_log WHERE event = 'takeover'")
per_daemon=$(psql -c "SELECT string_agg(holder || ': ' || c, ', ') FROM (SELECT holder, count(*) c FROM lease_log
    WHERE event = 'commit' GROUP BY holder ORDER BY holder) t")
echo "lease log: nodes committed twice $twice; claims whose epoch did not grow $falling;" \
  "ends not directly after their own claim $unclaimed; takeovers $taken (of $orphans nodes d1 held)"
echo "nodes committed per daemon: $per_daemon"
[[ $twice == 0 && $falling == 0 && $unclaimed == 0 && $taken -ge $orphans ]] || { echo "FAILED" >&2; exit 1; }
echo ok
