#!/usr/bin/env bash
# The upstream OpenID Provider of the `oidc` and `oauth2` connectors' tests: node oidc-provider 9
# (panva) from tests/peers/upstream-oidc/ (package.json + package-lock.json, `npm ci` when not
# installed at the locked versions), on loopback, on a free port. Clients, accounts and scopes:
# see tests/peers/upstream-oidc/server.mjs.
#   upstream-oidc.sh start [NAME]   -> prints `export GATEHOUSE_TEST_UPSTREAM_OIDC…_URL=…` (eval it),
#                                      READY on stderr
#   upstream-oidc.sh rotate [NAME]  -> new signing key (new kid), same port and issuer; prints the same
#   upstream-oidc.sh register URI... -> registers a client at instance `main` (Dynamic Client
#                                      Registration) with these URIs as redirect and post-logout
#                                      redirect URIs; prints `export GATEHOUSE_TEST_UPSTREAM_CLIENT_ID=…`
#                                      and `…_CLIENT_SECRET=…` (eval it)
#   upstream-oidc.sh stop [NAME]    -> stops that instance by its PID and removes its state
#   upstream-oidc.sh stop-all       -> stops every instance under the state root
#   upstream-oidc.sh install        -> only installs
# NAME (default `main`) lets instances run side by side, each with its own state under
# $GATEHOUSE_UPSTREAM_OIDC_ROOT/upstream-oidc-NAME (default /tmp/gatehouse-peers). Instance `main`
# exports GATEHOUSE_TEST_UPSTREAM_OIDC_URL, instance `x` GATEHOUSE_TEST_UPSTREAM_OIDC_X_URL.
# Idempotent: an instance that is running and answering, from the same server.mjs, is reused.
set -euo pipefail

cmd="${1:-start}"
if [ "$cmd" = register ]; then name=main; else name="${2:-main}"; fi
case "$name" in *[!a-z0-9_]*|"") echo "upstream-oidc.sh: NAME must be [a-z0-9_]+" >&2; exit 2 ;; esac
here="$(cd "$(dirname "$0")" && pwd)"
app="$here/upstream-oidc"
# tests/run points GATEHOUSE_UPSTREAM_OIDC_ROOT at a directory of its own, so runs side by side
# never share, or stop, one another's servers.
STATE="${GATEHOUSE_UPSTREAM_OIDC_ROOT:-${GATEHOUSE_PEERS_DIR:-/tmp/gatehouse-peers}}/upstream-oidc-$name"
if [ "$name" = main ]; then var=GATEHOUSE_TEST_UPSTREAM_OIDC_URL; else var="GATEHOUSE_TEST_UPSTREAM_OIDC_${name^^}_URL"; fi

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
  echo "upstream-oidc.sh: npm ci in $app" >&2
  (cd "$app" && npm ci --no-audit --no-fund --loglevel=error) >&2
}

running() { [ -f "$STATE/op.pid" ] && kill -0 "$(cat "$STATE/op.pid")" 2>/dev/null; }
url() { echo "http://127.0.0.1:$(cat "$STATE/port")"; }
answers() { curl -sf "$(url)/.well-known/openid-configuration" >/dev/null 2>&1; }
digest() { cat "$app/server.mjs" "$app/package-lock.json" "$0" | sha256sum | cut -d' ' -f1; }

# Stops the process only; the state (port, key) stays for `rotate`.
kill_it() {
  running || return 0
  local pid; pid="$(cat "$STATE/op.pid")"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  rm -f "$STATE/op.pid"
}

stop() { kill_it; rm -rf "$STATE"; }

# node writes op.pid itself once it listens: `stop` kills exactly that process.
launch() {
  rm -f "$STATE/op.pid"
  local launcher
  launcher="$(cd "$app"; OP_PORT="$(cat "$STATE/port")" OP_STATE_DIR="$STATE" OP_PID_FILE="$STATE/op.pid" \
    NODE_ENV=production nohup node server.mjs >>"$STATE/op.log" 2>&1 </dev/null & echo $!)"
  for _ in $(seq 200); do
    [ -f "$STATE/op.pid" ] && answers && break
    kill -0 "$launcher" 2>/dev/null || { cat "$STATE/op.log" >&2; exit 1; }
    sleep 0.05
  done
  answers || { echo "upstream-oidc.sh: $name does not answer on $(url)" >&2; cat "$STATE/op.log" >&2; exit 1; }
}

start() {
  if running && [ "$(cat "$STATE/digest" 2>/dev/null)" = "$(digest)" ] && answers; then
    echo "export $var=$(url)"
    echo "upstream-oidc.sh: READY (reused) $name pid $(cat "$STATE/op.pid") $(url)" >&2
    return 0
  fi
  install
  stop
  mkdir -p "$STATE"
  node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })' >"$STATE/port"
  launch
  digest >"$STATE/digest"
  echo "export $var=$(url)"
  echo "upstream-oidc.sh: READY $name pid $(cat "$STATE/op.pid") $(url)" >&2
}

rotate() {
  [ -f "$STATE/port" ] || { echo "upstream-oidc.sh: $name is not started" >&2; exit 1; }
  kill_it
  rm -f "$STATE/jwks.json"   # server.mjs makes a new key with a new kid
  launch
  echo "export $var=$(url)"
  echo "upstream-oidc.sh: READY (rotated to kid $(node -e 'console.log(require(process.argv[1]).keys[0].kid)' "$STATE/jwks.json")) $name $(url)" >&2
}

# The client's URIs are the arguments; client_secret_basic, code flow.
register() {
  [ "$#" -gt 0 ] || { echo "usage: $0 register URI..." >&2; exit 2; }
  running && answers || { echo "upstream-oidc.sh: $name is not started" >&2; exit 1; }
  local body
  body="$(node -e 'const u = process.argv.slice(1); console.log(JSON.stringify({
      redirect_uris: u, post_logout_redirect_uris: u, grant_types: ["authorization_code"],
      response_types: ["code"], token_endpoint_auth_method: "client_secret_basic" }))' "$@")"
  curl -sf -X POST "$(url)/reg" -H 'content-type: application/json' -d "$body" | node -e '
    let t = ""; process.stdin.on("data", (c) => { t += c; }).on("end", () => {
      const c = JSON.parse(t);
      console.log(`export GATEHOUSE_TEST_UPSTREAM_CLIENT_ID=${c.client_id}`);
      console.log(`export GATEHOUSE_TEST_UPSTREAM_CLIENT_SECRET=${c.client_secret}`);
    });'
}

stop_all() {
  local root="${STATE%/upstream-oidc-*}" d
  for d in "$root"/upstream-oidc-*/; do
    [ -d "$d" ] || continue
    STATE="${d%/}"; stop; echo "upstream-oidc.sh: STOPPED ${STATE##*/upstream-oidc-}" >&2
  done
}

case "$cmd" in
  start) start ;;
  rotate) rotate ;;
  stop) stop; echo "upstream-oidc.sh: STOPPED $name" >&2 ;;
  stop-all) stop_all ;;
  install) install ;;
  register) shift; register "$@" ;;
  *) echo "usage: $0 start|rotate|stop [NAME] | register URI... | stop-all | install" >&2; exit 2 ;;
esac
