#!/usr/bin/env bash
# node oidc-provider 9 (panva, OpenID certified) on loopback, from tests/peers/oidc-provider/
# (package.json + package-lock.json, installed with `npm ci` when not at the locked versions).
#   oidc-provider.sh start   -> starts on http://127.0.0.1:$OP_PORT (default 4000), prints READY
#   oidc-provider.sh stop    -> stops it by the PID it recorded
#   oidc-provider.sh install -> only installs
# Clients (see server.mjs): `broker` / `broker-secret` (code flow; accounts alice/alice-pw,
# bob/bob-pw) and `bench` / `bench-secret` (client_credentials, RS256 JWT access tokens).
# State (keys, log, PID) in $OP_STATE_DIR (default /tmp/gatehouse-peers/oidc-provider-$OP_PORT).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
app="$here/oidc-provider"
export OP_PORT="${OP_PORT:-4000}"
export OP_STATE_DIR="${OP_STATE_DIR:-${GATEHOUSE_PEERS_DIR:-/tmp/gatehouse-peers}/oidc-provider-$OP_PORT}"

install() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    "$here/../setup.sh" nodejs npm
  fi
  # Installed exactly at the locked versions? (every package of the lock, by its package.json)
  if (cd "$app" && node -e '
      const lock = require("./package-lock.json");
      for (const [p, m] of Object.entries(lock.packages)) {
        if (p && require("./" + p + "/package.json").version !== m.version) process.exit(1);
      }' 2>/dev/null); then
    return 0
  fi
  echo "oidc-provider.sh: npm ci in $app" >&2
  (cd "$app" && npm ci --no-audit --no-fund --loglevel=error) >&2
}

stop() {
  [ -f "$OP_STATE_DIR/op.pid" ] || return 0
  local pid; pid="$(cat "$OP_STATE_DIR/op.pid")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$OP_STATE_DIR/op.pid"
}

start() {
  install
  stop
  mkdir -p "$OP_STATE_DIR"
  # node writes its own PID (op.pid) once it listens: `stop` kills exactly that process.
  local launcher
  launcher="$(cd "$app"; OP_PID_FILE="$OP_STATE_DIR/op.pid" NODE_ENV=production \
    nohup node server.mjs >"$OP_STATE_DIR/op.log" 2>&1 </dev/null & echo $!)"
  local url="http://127.0.0.1:$OP_PORT/.well-known/openid-configuration"
  for _ in $(seq 150); do
    [ -f "$OP_STATE_DIR/op.pid" ] && curl -sf "$url" >/dev/null && break
    kill -0 "$launcher" 2>/dev/null || { cat "$OP_STATE_DIR/op.log" >&2; exit 1; }
    sleep 0.1
  done
  curl -sf "$url" >/dev/null || { echo "oidc-provider.sh: no answer on $url" >&2; cat "$OP_STATE_DIR/op.log" >&2; exit 1; }
  echo "oidc-provider.sh: pid $(cat "$OP_STATE_DIR/op.pid") issuer http://127.0.0.1:$OP_PORT" >&2
  echo READY
}

case "${1:-start}" in
  start) start ;;
  stop) stop; echo STOPPED ;;
  install) install ;;
  *) echo "usage: $0 start|stop|install" >&2; exit 2 ;;
esac
