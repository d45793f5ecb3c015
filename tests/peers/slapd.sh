#!/usr/bin/env bash
# OpenLDAP slapd (Debian's package) for the test suite, loopback only, logging off.
#   slapd.sh start [NAME]  -> prints `export GATEHOUSE_TEST_LDAP…=…` lines (eval them), READY on stderr
#   slapd.sh stop [NAME]   -> stops that instance by its PID and removes its state
#   slapd.sh kill [NAME]   -> the same with SIGKILL at once: a server dying, not shutting down
#   slapd.sh pid [NAME]    -> prints the instance's PID
#   slapd.sh stop-all      -> stops every instance under the state root
# NAME (default `main`) lets several instances run side by side, each on free ports with its own
# state under $GATEHOUSE_SLAPD_ROOT/slapd-NAME (default /tmp/gatehouse-peers). Instance `main`
# exports GATEHOUSE_TEST_LDAP_URL, _TLS_URL (ldaps://), _CA, _PID; instance `x` exports
# GATEHOUSE_TEST_LDAP_X_URL and so on.
#
# Idempotent: an instance that is running and answering, with the same fixtures, is reused.
# Data: every fixtures/ldap/*.ldif in name order, base dc=example,dc=org; root cn=admin / admin-pw.
# TLS: a throwaway CA and a server certificate for 127.0.0.1 and localhost, made at creation in the
# state dir; StartTLS on the ldap:// port, TLS on the ldaps:// port.
set -euo pipefail

cmd="${1:-start}"
name="${2:-main}"
case "$name" in *[!a-z0-9_]*|"") echo "slapd.sh: NAME must be [a-z0-9_]+" >&2; exit 2 ;; esac
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# tests/run points GATEHOUSE_SLAPD_ROOT at a directory of its own, so runs side by side (and the
# instances their tests start) never share, or stop, one another's servers.
STATE="${GATEHOUSE_SLAPD_ROOT:-${GATEHOUSE_PEERS_DIR:-/tmp/gatehouse-peers}}/slapd-$name"
BASE="dc=example,dc=org"
if [ "$name" = main ]; then prefix=GATEHOUSE_TEST_LDAP; else prefix="GATEHOUSE_TEST_LDAP_${name^^}"; fi
export PATH="$PATH:/usr/sbin:/usr/bin"

running() {
  [ -f "$STATE/slapd.pid" ] && kill -0 "$(cat "$STATE/slapd.pid")" 2>/dev/null
}

answers() {
  ldapsearch -x -LLL -H "ldap://127.0.0.1:$(cat "$STATE/port")" -D "cn=admin,$BASE" -w admin-pw \
    -b "$BASE" -s base dn >/dev/null 2>&1
}

fixtures_digest() {
  cat "$root"/fixtures/ldap/*.ldif "$0" | sha256sum | cut -d' ' -f1
}

print_exports() {
  echo "export ${prefix}_URL=ldap://127.0.0.1:$(cat "$STATE/port")"
  echo "export ${prefix}_TLS_URL=ldaps://127.0.0.1:$(cat "$STATE/tls_port")"
  echo "export ${prefix}_CA=$STATE/tls/ca.pem"
  echo "export ${prefix}_PID=$(cat "$STATE/slapd.pid")"
}

stop() {
  if running; then
    local pid; pid="$(cat "$STATE/slapd.pid")"
    kill "-${1:-TERM}" "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf "$STATE"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

make_tls() {
  local d="$STATE/tls"
  mkdir -p "$d"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=Gatehouse test CA ($name)" \
    -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$d/key.pem" -out "$d/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' >"$d/ext.cnf"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -days 30 -extfile "$d/ext.cnf" -out "$d/cert.pem" 2>/dev/null
  rm -f "$d/ca.key" "$d/server.csr"
  chmod 600 "$d/key.pem"
}

start() {
  local digest; digest="$(fixtures_digest)"
  if running && [ "$(cat "$STATE/digest" 2>/dev/null)" = "$digest" ] && answers; then
    print_exports
    echo "slapd.sh: READY (reused) $name pid $(cat "$STATE/slapd.pid")" >&2
    return 0
  fi
  if [ ! -x /usr/sbin/slapd ] || ! command -v ldapsearch >/dev/null; then
    # No debconf questions, no system database, and no system service started by the install.
    echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
    local guard=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; guard=1
    fi
    "$here/../setup.sh" slapd ldap-utils openssl
    [ "$guard" = 1 ] && rm -f /usr/sbin/policy-rc.d
  fi
  stop
  mkdir -p "$STATE/db"
  make_tls
  free_port >"$STATE/port"
  free_port >"$STATE/tls_port"
  cat >"$STATE/slapd.conf" <<EOF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile  $STATE/slapd.pid
argsfile $STATE/slapd.args
# Per-operation logging caps slapd's throughput (and would flatter the benchmark's ratio).
loglevel 0
TLSCACertificateFile  $STATE/tls/ca.pem
TLSCertificateFile    $STATE/tls/cert.pem
TLSCertificateKeyFile $STATE/tls/key.pem

database mdb
maxsize 104857600
suffix "$BASE"
rootdn "cn=admin,$BASE"
rootpw admin-pw
directory $STATE/db
index objectClass,uid,mail,member,memberUid,employeeType eq
access to attrs=userPassword
  by self write
  by anonymous auth
  by * none
access to dn.subtree="ou=contractors,$BASE"
  by * read
access to *
  by dn.exact="cn=svc-broker,ou=services,$BASE" read
  by self read
  by users read
  by * none
EOF
  local ldif="$STATE/data.ldif" f
  : >"$ldif"
  for f in "$root"/fixtures/ldap/*.ldif; do cat "$f" >>"$ldif"; printf '\n' >>"$ldif"; done
  slapadd -q -f "$STATE/slapd.conf" -l "$ldif" >"$STATE/slapadd.log" 2>&1 \
    || { cat "$STATE/slapadd.log" >&2; exit 1; }
  # slapd detaches and writes its pid file; with loglevel 0 it logs nothing.
  slapd -f "$STATE/slapd.conf" \
    -h "ldap://127.0.0.1:$(cat "$STATE/port")/ ldaps://127.0.0.1:$(cat "$STATE/tls_port")/"
  for _ in $(seq 100); do answers && break; sleep 0.05; done
  answers || { echo "slapd.sh: slapd $name did not answer" >&2; exit 1; }
  echo "$digest" >"$STATE/digest"
  print_exports
  echo "slapd.sh: READY $name pid $(cat "$STATE/slapd.pid") ldap://127.0.0.1:$(cat "$STATE/port")" >&2
}

# Every instance under the state root, by the PID each recorded (tests/run at exit).
stop_all() {
  local root="${STATE%/slapd-*}" d
  for d in "$root"/slapd-*/; do
    [ -d "$d" ] || continue
    STATE="${d%/}"; stop; echo "slapd.sh: STOPPED ${STATE##*/slapd-}" >&2
  done
}

case "$cmd" in
  start) start ;;
  stop) stop; echo "slapd.sh: STOPPED $name" >&2 ;;
  kill) stop KILL; echo "slapd.sh: KILLED $name" >&2 ;;
  stop-all) stop_all ;;
  pid) cat "$STATE/slapd.pid" ;;
  *) echo "usage: $0 start|stop|kill|pid [NAME] | stop-all" >&2; exit 2 ;;
esac
