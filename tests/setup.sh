#!/usr/bin/env bash
# Install the Debian packages that building and testing Gatehouse needs. Idempotent: installs only
# what is missing, and runs `apt-get update` only then.
set -euo pipefail

packages=(build-essential pkg-config ca-certificates)
# The saml connector: samael's build script needs libclang; libxml2 + xmlsec1 (OpenSSL backend) are
# its signature verification; the xmlsec1 binary signs the test responses.
packages+=(libssl-dev libclang-dev libxml2-dev libxslt1-dev libxmlsec1-dev libxmlsec1-openssl xmlsec1)
# The database shells: the audit-trail test reads the rows as an operator would (sqlite3, psql).
packages+=(sqlite3 postgresql-client)
# The browser of the first-run test and its screenshots (crates/gatehouse-cli/tests/first_run.rs),
# driven by npm playwright-core from tests/rp/.
packages+=(chromium)
# Only for the throwaway PostgreSQL started when none answers on 127.0.0.1:5432.
packages+=("$@")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
