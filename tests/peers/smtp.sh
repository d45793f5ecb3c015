#!/usr/bin/env bash
# The mail server of the email one-time-code tests: Python aiosmtpd (pinned in
# tests/peers/smtp/requirements.txt, installed into tests/peers/smtp/.venv), on loopback, on a free
# port, writing every message it receives as one file under a Maildir (`$maildir/new/`).
# STARTTLS is offered with a self-signed certificate but not required; no AUTH.
#   smtp.sh start [NAME]   -> prints `export GATEHOUSE_TEST_SMTP_PORT=…` and
#                             `export GATEHOUSE_TEST_SMTP_MAILDIR=…` (eval it), READY on stderr
#   smtp.sh stop [NAME]    -> stops that instance by its PID and removes its state
#   smtp.sh stop-all       -> stops every instance under the state root
#   smtp.sh install        -> only installs
# NAME (default `main`) lets instances run side by side, each with its own state under
# $GATEHOUSE_SMTP_ROOT/smtp-NAME (default /tmp/gatehouse-peers). Instance `x` exports
# GATEHOUSE_TEST_SMTP_X_PORT and …_X_MAILDIR. Idempotent: a running instance is reused.
set -euo pipefail

cmd="${1:-start}"
name="${2:-main}"
case "$name" in *[!a-z0-9_]*|"") echo "smtp.sh: NAME must be [a-z0-9_]+" >&2; exit 2 ;; esac
here="$(cd "$(dirname "$0")" && pwd)"
app="$here/smtp"
venv="$app/.venv"
STATE="${GATEHOUSE_SMTP_ROOT:-${GATEHOUSE_PEERS_DIR:-/tmp/gatehouse-peers}}/smtp-$name"
if [ "$name" = main ]; then var=GATEHOUSE_TEST_SMTP; else var="GATEHOUSE_TEST_SMTP_${name^^}"; fi

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
  command -v openssl >/dev/null || "$here/../setup.sh" openssl
  pinned && return 0
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" 2>/dev/null || { rm -rf "$venv"; "$here/../setup.sh" python3-venv; python3 -m venv "$venv"; }
  fi
  echo "smtp.sh: pip install -r requirements.txt into $venv" >&2
  "$venv/bin/pip" install --disable-pip-version-check -q -r "$app/requirements.txt" >&2
  pinned || { echo "smtp.sh: $venv does not match requirements.txt after pip install" >&2; exit 1; }
}

running() { [ -f "$STATE/smtp.pid" ] && kill -0 "$(cat "$STATE/smtp.pid")" 2>/dev/null; }
answers() { (exec 3<>"/dev/tcp/127.0.0.1/$(cat "$STATE/port")") 2>/dev/null; }
exports() {
  echo "export ${var}_PORT=$(cat "$STATE/port")"
  echo "export ${var}_MAILDIR=$STATE/maildir"
}

stop() {
  if running; then
    local pid; pid="$(cat "$STATE/smtp.pid")"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf "$STATE"
}

start() {
  if running && answers; then
    exports
    echo "smtp.sh: READY (reused) $name pid $(cat "$STATE/smtp.pid") port $(cat "$STATE/port")" >&2
    return 0
  fi
  install
  stop
  mkdir -p "$STATE/maildir/tmp" "$STATE/maildir/new" "$STATE/maildir/cur"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=localhost \
    -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
    -keyout "$STATE/key.pem" -out "$STATE/cert.pem" 2>/dev/null
  "$venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' >"$STATE/port"
  nohup "$venv/bin/python" -m aiosmtpd -n -l "127.0.0.1:$(cat "$STATE/port")" \
    --tlscert "$STATE/cert.pem" --tlskey "$STATE/key.pem" --no-requiretls \
    -c aiosmtpd.handlers.Mailbox "$STATE/maildir" >>"$STATE/smtp.log" 2>&1 </dev/null &
  echo $! >"$STATE/smtp.pid"
  for _ in $(seq 200); do
    answers && break
    running || { cat "$STATE/smtp.log" >&2; exit 1; }
    sleep 0.05
  done
  answers || { echo "smtp.sh: $name does not answer on port $(cat "$STATE/port")" >&2; cat "$STATE/smtp.log" >&2; exit 1; }
  exports
  echo "smtp.sh: READY $name pid $(cat "$STATE/smtp.pid") port $(cat "$STATE/port")" >&2
}

stop_all() {
  local root="${STATE%/smtp-*}" d
  for d in "$root"/smtp-*/; do
    [ -d "$d" ] || continue
    STATE="${d%/}"; stop; echo "smtp.sh: STOPPED ${STATE##*/smtp-}" >&2
  done
}

case "$cmd" in
  start) start ;;
  stop) stop; echo "smtp.sh: STOPPED $name" >&2 ;;
  stop-all) stop_all ;;
  install) install ;;
  *) echo "usage: $0 start|stop [NAME] | stop-all | install" >&2; exit 2 ;;
esac
