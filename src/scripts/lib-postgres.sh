# Sourced by the scripts here: a throwaway PostgreSQL from the machine's binaries (as the user
# postgres when run as root) in "$work/pg", on 127.0.0.1 and a free port, trusting local users.
#   start_throwaway_postgres   sets bin (the binaries), port, and psql_pg (psql as postgres)
#   stop_throwaway_postgres    stops it (call it from the caller's EXIT trap)
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -n $bin ]] || { echo "no PostgreSQL binaries under /usr/lib/postgresql: apt-get install postgresql" >&2; exit 2; }
as_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_throwaway_postgres() {
  chmod 777 "$work"
  port=$(free_port)
  as_pg "$bin/initdb" -D "$work/pg" -U postgres --auth=trust --locale=C -E UTF8 >/dev/null
  as_pg "$bin/pg_ctl" -D "$work/pg" -o "-p $port -k $work -c listen_addresses=127.0.0.1" -l "$work/pg.log" -w \
    start >/dev/null
}

stop_throwaway_postgres() {
  as_pg "$bin/pg_ctl" -D "$work/pg" -m fast stop >/dev/null 2>&1 || true
}

psql_pg() { "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -At "$@"; }
