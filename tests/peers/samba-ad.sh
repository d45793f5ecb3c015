#!/usr/bin/env bash
# Samba 4 as an Active Directory domain controller, provisioned into a private dir, loopback only.
#   samba-ad.sh start  -> prints `export GATEHOUSE_TEST_AD_…=…` lines (eval them), READY on stderr
#   samba-ad.sh stop   -> stops it by its PID and removes its state
# Realm EXAMPLE.ORG, NetBIOS EXAMPLE, base DN DC=example,DC=org.
# LDAP ldap://127.0.0.1:389 (simple binds allowed), LDAPS ldaps://127.0.0.1:636 with a throwaway
# certificate for 127.0.0.1 signed by a throwaway CA (GATEHOUSE_TEST_AD_CA). AD's ports are fixed: 389, 636, 88, 3268 and
# 3269 must be free on 127.0.0.1, which is why tests/run does not start it (see README).
# Accounts (test-only passwords): svc-broker / Svc-Pw-123!, alice / Alice-Pw-123!,
# bob / Bob-Pw-123!, carol / Carol-Pw-123! (disabled through userAccountControl).
# Groups: 'Broker Admins' (alice), 'All Staff' (member: the group 'Broker Admins', and bob).
# Idempotent: a running, answering instance is reused.
set -euo pipefail

# Samba binds only to addresses configured on an interface: 127.0.0.2 and friends are routed to
# lo but not configured on it ("no network interfaces found"), so 127.0.0.1 it is.
IP=127.0.0.1
STATE="${GATEHOUSE_PEERS_DIR:-/tmp/gatehouse-peers}/samba-ad"
here="$(cd "$(dirname "$0")" && pwd)"
export PATH="$PATH:/usr/sbin:/usr/bin"

running() { [ -f "$STATE/samba.pid" ] && kill -0 "$(cat "$STATE/samba.pid")" 2>/dev/null; }
answers() {
  # Samba does not implement the WhoAmI operation: probe with a base search.
  ldapsearch -x -H "ldap://$IP:389" -D 'svc-broker@example.org' -w 'Svc-Pw-123!' -b '' -s base dn \
    >/dev/null 2>&1
}
print_exports() {
  echo "export GATEHOUSE_TEST_AD_URL=ldap://$IP:389"
  echo "export GATEHOUSE_TEST_AD_TLS_URL=ldaps://$IP:636"
  echo "export GATEHOUSE_TEST_AD_CA=$STATE/tls/ca.pem"
}

stop() {
  if running; then
    local pid; pid="$(cat "$STATE/samba.pid")"
    kill -TERM "$pid" 2>/dev/null || true   # the master takes its children with it
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf "$STATE"
}

start() {
  if running && answers; then
    print_exports; echo "samba-ad.sh: READY (reused)" >&2; return 0
  fi
  if [ ! -x /usr/sbin/samba ] || ! command -v ldapsearch >/dev/null; then
    local guard=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then   # keep the system smbd/samba-ad-dc from starting
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; guard=1
    fi
    "$here/../setup.sh" samba samba-ad-dc samba-ad-provision samba-dsdb-modules winbind ldb-tools \
      ldap-utils openssl
    [ "$guard" = 1 ] && rm -f /usr/sbin/policy-rc.d
  fi
  for port in 389 636 88 3268 3269; do
    if (exec 3<>"/dev/tcp/$IP/$port") 2>/dev/null; then
      echo "samba-ad.sh: $IP:$port is taken; an AD DC needs its fixed ports" >&2; exit 1
    fi
  done
  stop
  mkdir -p "$STATE"
  samba-tool domain provision --use-rfc2307 --realm=EXAMPLE.ORG --domain=EXAMPLE \
    --server-role=dc --dns-backend=NONE --host-name=dc1 --host-ip="$IP" \
    --adminpass='Admin-Pw-123!' --targetdir="$STATE" \
    --option="interfaces = $IP" --option="bind interfaces only = yes" \
    --option="server services = ldap, cldap, kdc" \
    --option="log file = $STATE/log.%m" --option="pid directory = $STATE/run" \
    --option="ncalrpc dir = $STATE/run/ncalrpc" --option="winbindd socket directory = $STATE/run/winbindd" \
    --option="ntp signd socket directory = $STATE/run/ntp_signd" \
    >"$STATE/provision.log" 2>&1 || { tail -30 "$STATE/provision.log" >&2; exit 1; }
  local conf="$STATE/etc/smb.conf"
  mkdir -p "$STATE/run" "$STATE/tls"
  # Samba's own certificate names dc1.example.org only; tests connect to 127.0.0.1. A throwaway
  # CA signs it: rustls refuses a self-signed CA certificate used as the server's.
  local d="$STATE/tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=Gatehouse test AD CA" \
    -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=dc1.example.org" \
    -keyout "$d/key.pem" -out "$d/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:%s,DNS:localhost,DNS:dc1.example.org\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' "$IP" >"$d/ext.cnf"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -days 30 -extfile "$d/ext.cnf" -out "$d/cert.pem" 2>/dev/null
  rm -f "$d/ca.key" "$d/server.csr"
  chmod 600 "$d/key.pem"
  # provision drops some --option values: add these to [global] afterwards.
  cat >"$STATE/etc/extra.conf" <<EOF
	ldap server require strong auth = no
	prefork children = 1
	log level = 0
	tls enabled = yes
	tls keyfile = $STATE/tls/key.pem
	tls certfile = $STATE/tls/cert.pem
	tls cafile =
EOF
  sed -i "/^\[global\]/r $STATE/etc/extra.conf" "$conf"

  # Written straight into sam.ldb, before the server starts.
  st() { samba-tool "$@" -s "$conf" >/dev/null; }
  st user create alice 'Alice-Pw-123!' --given-name=Alice --surname=Liddell --mail-address=alice@example.org
  st user create bob 'Bob-Pw-123!' --given-name=Bob --surname=Builder --mail-address=bob@example.org
  st user create carol 'Carol-Pw-123!' --given-name=Carol --surname=Danvers --mail-address=carol@example.org
  st user disable carol
  st user create svc-broker 'Svc-Pw-123!'
  for u in alice bob carol svc-broker; do st user setexpiry "$u" --noexpiry; done
  st group add 'Broker Admins'
  st group addmembers 'Broker Admins' alice
  st group add 'All Staff'
  st group addmembers 'All Staff' 'Broker Admins,bob'

  setsid nohup samba -s "$conf" --foreground --no-process-group --debug-stdout -d 0 \
    >"$STATE/samba.out" 2>&1 </dev/null &
  echo $! >"$STATE/samba.pid"
  for _ in $(seq 300); do
    answers && break
    running || { tail -30 "$STATE/samba.out" >&2; exit 1; }
    sleep 0.2
  done
  answers || { echo "samba-ad.sh: samba did not answer" >&2; tail -30 "$STATE/samba.out" >&2; exit 1; }
  print_exports
  echo "samba-ad.sh: READY pid $(cat "$STATE/samba.pid") ldap://$IP:389 ldaps://$IP:636" >&2
}

case "${1:-start}" in
  start) start ;;
  stop) stop; echo "samba-ad.sh: STOPPED" >&2 ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
