#!/usr/bin/env bash
# Throughput of 1, 2 and 3 meterd processes sharing one PostgreSQL database, beside one on SQLite.
#
#   src/scripts/bench-daemons.sh REPO.git [COUNTS...]     (default counts: 1 2 3)
#
# REPO.git is a usage repository (../shared/limits/genrepo.py makes the benchmark layouts). For
# each count N it starts a throwaway PostgreSQL from the machine's binaries (as user postgres when
# run as root) on a free port, gives the run a fresh database, starts N `meterd aggregate --once`
# at the same moment, each claiming nodes by lease, and waits for all of them; then it checks that
# every record was consumed once and that the lease log shows no node committed twice. Last, one
# `aggregate --once` on a fresh SQLite file. It prints records/s per run; the jar is target/meterd.jar.
set -euo pipefail

repo=${1:?usage: src/scripts/bench-daemons.sh REPO.git [COUNTS...]}
shift
if (($#)); then counts=("$@"); else counts=(1 2 3); fi
jar=$(cd "$(dirname "$0")/../.." && pwd)/target/meterd.jar
[[ -f $jar ]] || { echo "no $jar: run mvn -B package -DskipTests first" >&2; exit 2; }
source "$(dirname "$0")/lib-postgres.sh"

work=$(mktemp -d /tmp/meterd-bench-daemons.XXXXXX)
cleanup() { stop_throwaway_postgres; rm -rf "$work"; }
trap cleanup EXIT
start_throwaway_postgres
psql() { psql_pg "$@"; }
# CPU seconds PostgreSQL has used so far: the postmaster, its live processes, and those it reaped.
pg_cpu() {
  local pm; pm=$(head -1 "$work/pg/postmaster.pid")
  python3 - "$pm" <<'PY'
import os, sys
hz = os.sysconf("SC_CLK_TCK"); pm = sys.argv[1]; total = 0
def stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()
s = stat(pm); total += sum(int(x) for x in s[11:15])
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            s = stat(pid)
            if s[1] == pm:
                total += int(s[11]) + int(s[12])
        except OSError:
            pass
print(f"{total / hz:.1f}")
PY
}

records=$(git --git-dir="$repo" ls-tree -r --name-only HEAD | grep -c '^nodes/' || true)
echo "repository $repo ($records usage files); $(nproc) cores; PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"

for n in "${counts[@]}"; do
  dbname=bench_$n
  psql -d postgres -c "CREATE DATABASE $dbname" >/dev/null
  for i in $(seq 1 "$n"); do
    cat > "$work/d$n-$i.toml" <<TOML
[source]
url = "$repo"
clone_dir = "$work/clone-$n-$i"

[storage]
kind = "postgres"
url = "jdbc:postgresql://127.0.0.1:$port/$dbname"
user = "postgres"
TOML
  done
  pg_before=$(pg_cpu)
  start=$(date +%s.%N)
  pids=()
  for i in $(seq 1 "$n"); do
    METERD_DB_PASSWORD= /usr/bin/time -f "%U %S" -o "$work/d$n-$i.cpu" java -Xmx256m -jar "$jar" aggregate --once \
      --config "$work/d$n-$i.toml" > "$work/d$n-$i.out" 2> "$work/d$n-$i.err" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || { echo "a daemon failed:"; cat "$work"/d$n-*.err; exit 1; }; done
  end=$(date +%s.%N)
  pg_used=$(echo "$(pg_cpu) - $pg_before" | bc -l)
  meterd_used=$(cat "$work"/d$n-*.cpu | awk '{s += $1 + $2} END {print s}')
  consumed=$(psql -d "$dbname" -c "SELECT count(*) FROM consumed_record")
  twice=$(psql -d "$dbname" -c "SELECT count(*) FROM (SELECT node FROM lease_log WHERE event = 'commit' GROUP BY node HAVING count(*) > 1) t")
  holders=$(psql -d "$dbname" -c "SELECT string_agg(c::text, '/') FROM (SELECT count(*) c FROM lease_log WHERE event = 'commit' GROUP BY holder ORDER BY 1 DESC) t")
  secs=$(echo "$end - $start" | bc -l)
  printf 'postgres, %d daemon(s): %d records in %.1f s = %.0f records/s; CPU s: meterd %.1f, PostgreSQL %.1f; nodes per daemon %s; nodes committed twice: %s\n' \
    "$n" "$consumed" "$secs" "$(echo "$consumed / $secs" | bc -l)" "$meterd_used" "$pg_used" "$holders" "$twice"
done

start=$(date +%s.%N)
/usr/bin/time -f "%U %S" -o "$work/sqlite.cpu" java -Xmx256m -jar "$jar" aggregate --once --db "$work/sqlite.db" \
  --source "$repo" > "$work/sqlite.out" 2> "$work/sqlite.err"
end=$(date +%s.%N)
consumed=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT count(*) FROM consumed_record').fetchone()[0])" "$work/sqlite.db")
secs=$(echo "$end - $start" | bc -l)
printf 'sqlite, 1 process: %d records in %.1f s = %.0f records/s; CPU s: meterd %.1f\n' "$consumed" "$secs" \
  "$(echo "$consumed / $secs" | bc -l)" "$(awk '{print $1 + $2}' "$work/sqlite.cpu")"
