#!/usr/bin/env bash
# PostgreSQL for the test suite.
#   postgres.sh start  -> prints `export GATEHOUSE_TEST_PG_URL=…` (eval it)
#   postgres.sh stop   -> stops the throwaway server, if this script started one
# Uses the server on 127.0.0.1:5432 (database `test`) when it answers; otherwise runs Debian's
# postgresql from a fresh `initdb` in a temp dir on a free loopback port, stopped by its PID.
set -euo pipefail

STATE="${GATEHOUSE_PEERS_DIR:-/tmp/gatehouse-peers}/postgres"
here="$(cd "$(dirname "$0")" && pwd)"

pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  return 1
}

answers() { # host port db
  psql "postgres://postgres@$1:$2/$3" -qtAc 'select 1' >/dev/null 2>&1
}

start() {
  # GATEHOUSE_TEST_PG_THROWAWAY=1 skips the shared server (to exercise the throwaway path).
  if [ "${GATEHOUSE_TEST_PG_THROWAWAY:-}" != 1 ] && answers 127.0.0.1 5432 test; then
    echo "export GATEHOUSE_TEST_PG_URL=postgres://postgres@127.0.0.1:5432/test"
    return 0
  fi
  if [ -f "$STATE/port" ] && [ -f "$STATE/pid" ] && answers 127.0.0.1 "$(cat "$STATE/port")" test; then
    echo "export GATEHOUSE_TEST_PG_URL=postgres://postgres@127.0.0.1:$(cat "$STATE/port")/test"
    return 0
  fi
  "$here/../setup.sh" postgresql postgresql-client
  local bin; bin="$(pg_bin)" || { echo "postgres.sh: no initdb found after installing postgresql" >&2; exit 1; }
  rm -rf "$STATE"; mkdir -p "$STATE"
  local port; port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  # PostgreSQL refuses to run as root: the data directory belongs to the postgres user.
  local as=(); [ "$(id -u)" -eq 0 ] && { chown -R postgres:postgres "$STATE"; as=(runuser -u postgres --); }
  "${as[@]}" "$bin/initdb" -D "$STATE/data" -U postgres --auth=trust -E UTF8 >"$STATE/initdb.log" 2>&1
  "${as[@]}" "$bin/pg_ctl" -D "$STATE/data" -l "$STATE/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $STATE -c fsync=off -c max_connections=300" start >&2
  echo "$port" >"$STATE/port"
  head -n1 "$STATE/data/postmaster.pid" >"$STATE/pid"
  psql "postgres://postgres@127.0.0.1:$port/postgres" -qc 'create database test' >&2
  echo "postgres.sh: READY throwaway PostgreSQL on 127.0.0.1:$port (pid $(cat "$STATE/pid"))" >&2
  echo "export GATEHOUSE_TEST_PG_URL=postgres://postgres@127.0.0.1:$port/test"
  echo "export GATEHOUSE_TEST_PG_STARTED=1"
}

stop() {
  [ -f "$STATE/pid" ] || return 0
  local pid; pid="$(cat "$STATE/pid")"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -rf "$STATE"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
