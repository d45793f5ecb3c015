#!/usr/bin/env bash
# The upstream SAML 2.0 IdP of the `saml` provider's tests: pysaml2 7.5.5 (tests/peers/saml-idp/,
# pinned in requirements.txt, installed into tests/peers/saml-idp/.venv) signing with Debian's
# xmlsec1, on loopback, on a free port. Users, endpoints: see tests/peers/saml-idp/saml_idp.py.
#   saml-idp.sh start [NAME]             -> prints `export GATEHOUSE_TEST_SAML_IDP…=…` (eval it),
#                                           READY on stderr
#   saml-idp.sh trust URL_OR_FILE [NAME] -> the IdP loads that SP metadata and trusts the SP
#   saml-idp.sh stop [NAME]              -> stops that instance by its PID and removes its state
#   saml-idp.sh stop-all                 -> stops every instance under the state root
#   saml-idp.sh install                  -> only installs
# SAML_IDP_PORT=N at `start` listens on that port instead of a free one.
# SAML_SP_METADATA=URL_OR_FILE (several separated by spaces) at `start` trusts those SPs from the
# first request on; tests that start Gatehouse on a port of their own use `trust` (or POST
# url=… to $GATEHOUSE_TEST_SAML_IDP_URL/admin/trust) once its metadata is served.
# NAME (default `main`) lets instances run side by side, each with its own state (signing key,
# log, PID) under $GATEHOUSE_SAML_IDP_ROOT/saml-idp-NAME (default /tmp/gatehouse-peers). Instance
# `main` exports GATEHOUSE_TEST_SAML_IDP_URL and GATEHOUSE_TEST_SAML_IDP_CERT, instance `x`
# GATEHOUSE_TEST_SAML_IDP_X_URL and …_X_CERT.
# Idempotent: an instance that is running and answering, from the same code, is reused.
set -euo pipefail

cmd="${1:-start}"
case "$cmd" in trust) source_md="${2:?usage: $0 trust URL_OR_FILE [NAME]}"; name="${3:-main}" ;; *) name="${2:-main}" ;; esac
case "$name" in *[!a-z0-9_]*|"") echo "saml-idp.sh: NAME must be [a-z0-9_]+" >&2; exit 2 ;; esac
here="$(cd "$(dirname "$0")" && pwd)"
app="$here/saml-idp"
venv="$app/.venv"
STATE="${GATEHOUSE_SAML_IDP_ROOT:-${GATEHOUSE_PEERS_DIR:-/tmp/gatehouse-peers}}/saml-idp-$name"
if [ "$name" = main ]; then var=GATEHOUSE_TEST_SAML_IDP; else var="GATEHOUSE_TEST_SAML_IDP_${name^^}"; fi

pinned() { # every `name==version` of requirements.txt installed in the venv?
  [ -x "$venv/bin/python" ] && "$venv/bin/python" - "$app/requirements.txt" <<'PY' 2>/dev/null
import sys, re
from importlib.metadata import version, PackageNotFoundError
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if not line:
        continue
    name, want = re.split(r"==", line)
    try:
        if version(name) != want:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PY
}

install() {
  command -v xmlsec1 >/dev/null && command -v openssl >/dev/null || "$here/../setup.sh" xmlsec1 openssl
  pinned && return 0
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" 2>/dev/null || { rm -rf "$venv"; "$here/../setup.sh" python3-venv; python3 -m venv "$venv"; }
  fi
  echo "saml-idp.sh: pip install -r requirements.txt into $venv" >&2
  "$venv/bin/pip" install --disable-pip-version-check -q -r "$app/requirements.txt" >&2
  pinned || { echo "saml-idp.sh: $venv does not match requirements.txt after pip install" >&2; exit 1; }
}

running() { [ -f "$STATE/idp.pid" ] && kill -0 "$(cat "$STATE/idp.pid")" 2>/dev/null; }
url() { echo "http://127.0.0.1:$(cat "$STATE/port")"; }
answers() { curl -sf "$(url)/metadata" >/dev/null 2>&1; }
digest() { cat "$app/saml_idp.py" "$app/requirements.txt" "$0" | sha256sum | cut -d' ' -f1; }
exports() {
  echo "export ${var}_URL=$(url)"
  echo "export ${var}_CERT=$STATE/idp-cert.pem"
}

stop() {
  if running; then
    local pid; pid="$(cat "$STATE/idp.pid")"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf "$STATE"
}

start() {
  if running && [ "$(cat "$STATE/digest" 2>/dev/null)" = "$(digest)" ] && answers; then
    exports
    echo "saml-idp.sh: READY (reused) $name pid $(cat "$STATE/idp.pid") $(url)" >&2
    return 0
  fi
  install
  stop
  mkdir -p "$STATE"
  # SAML_IDP_PORT pins the port (e.g. 8090 for config/examples/saml.toml); a free one otherwise.
  "$venv/bin/python" -c 'import socket, sys; s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); print(s.getsockname()[1])' "${SAML_IDP_PORT:-0}" >"$STATE/port"
  local args=(serve --port "$(cat "$STATE/port")" --state "$STATE" --pid-file "$STATE/idp.pid") md
  for md in ${SAML_SP_METADATA:-}; do args+=(--sp-metadata "$md"); done
  # The Python process writes idp.pid itself once it listens: `stop` kills exactly that process.
  local launcher
  launcher="$(nohup "$venv/bin/python" -W ignore "$app/saml_idp.py" "${args[@]}" >>"$STATE/idp.log" 2>&1 </dev/null & echo $!)"
  for _ in $(seq 200); do
    [ -f "$STATE/idp.pid" ] && answers && break
    kill -0 "$launcher" 2>/dev/null || { cat "$STATE/idp.log" >&2; exit 1; }
    sleep 0.05
  done
  answers || { echo "saml-idp.sh: $name does not answer on $(url)" >&2; cat "$STATE/idp.log" >&2; exit 1; }
  digest >"$STATE/digest"
  exports
  echo "saml-idp.sh: READY $name pid $(cat "$STATE/idp.pid") $(url)" >&2
}

trust() {
  running || { echo "saml-idp.sh: $name is not started" >&2; exit 1; }
  local form=(--data-urlencode "url=$source_md")
  [ -f "$source_md" ] && form=(--data-urlencode "xml@$source_md")
  curl -sf "${form[@]}" "$(url)/admin/trust" >/dev/null || { echo "saml-idp.sh: $name refused the metadata $source_md" >&2; exit 1; }
  echo "saml-idp.sh: $name trusts $source_md" >&2
}

stop_all() {
  local root="${STATE%/saml-idp-*}" d
  for d in "$root"/saml-idp-*/; do
    [ -d "$d" ] || continue
    STATE="${d%/}"; stop; echo "saml-idp.sh: STOPPED ${STATE##*/saml-idp-}" >&2
  done
}

case "$cmd" in
  start) start ;;
  trust) trust ;;
  stop) stop; echo "saml-idp.sh: STOPPED $name" >&2 ;;
  stop-all) stop_all ;;
  install) install ;;
  *) echo "usage: $0 start|stop [NAME] | trust URL_OR_FILE [NAME] | stop-all | install" >&2; exit 2 ;;
esac
