#!/usr/bin/env bash
# Relying-party client libraries for the OpenID Provider end-to-end tests
# (crates/gatehouse-cli/tests/oidc_rp.rs, tests/rp/*):
#   - npm `openid-client` from tests/rp/package.json + package-lock.json, `npm ci` into tests/rp/node_modules;
#   - PyPI `authlib` + `requests` from tests/rp/requirements.txt, into the venv tests/rp/.venv.
# Idempotent: each half is skipped when every package is already installed at its pinned version.
# Installs Debian's nodejs/npm or python3-venv only when they are missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
rp="$(cd "$here/../rp" && pwd)"

# --- node: openid-client ---
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  "$here/../setup.sh" nodejs npm
fi
node_locked() { # every package of the lock installed at its locked version?
  (cd "$rp" && node -e '
    const lock = require("./package-lock.json");
    for (const [p, m] of Object.entries(lock.packages)) {
      if (p && require("./" + p + "/package.json").version !== m.version) process.exit(1);
    }' 2>/dev/null)
}
if ! node_locked; then
  echo "rp-clients: npm ci in $rp" >&2
  (cd "$rp" && npm ci --no-audit --no-fund --loglevel=error) >&2
  node_locked || { echo "rp-clients: tests/rp/node_modules does not match package-lock.json after npm ci" >&2; exit 1; }
fi

# --- python: authlib ---
venv="$rp/.venv"
python_pinned() { # every `name==version` of requirements.txt installed in the venv?
  [ -x "$venv/bin/python" ] && "$venv/bin/python" - "$rp/requirements.txt" <<'PY' 2>/dev/null
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
if ! python_pinned; then
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" 2>/dev/null || { rm -rf "$venv"; "$here/../setup.sh" python3-venv; python3 -m venv "$venv"; }
  fi
  echo "rp-clients: pip install -r requirements.txt into $venv" >&2
  "$venv/bin/pip" install --disable-pip-version-check -q -r "$rp/requirements.txt" >&2
  python_pinned || { echo "rp-clients: $venv does not match requirements.txt after pip install" >&2; exit 1; }
fi

echo "rp-clients: openid-client $(cd "$rp" && node -p 'require("./node_modules/openid-client/package.json").version'), authlib $("$venv/bin/python" -c 'import authlib; print(authlib.__version__)') READY" >&2
