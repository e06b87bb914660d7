#!/usr/bin/env bash
# The whole test suite: what README.md names and what .ci/run calls.
#   - Rust unit and integration tests (the API over real HTTP on SQLite and on
#     PostgreSQL at 127.0.0.1:5432; ZT_TEST_PG_URL overrides).
#   - The browser test in headless Chromium at 375x812 and 1280x800.
# A suite whose service is missing is skipped with a loud line on a newcomer's
# machine; with CI=true a missing service is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

ci=false
if [ "${CI:-}" = "true" ] || [ "${CI:-}" = "1" ]; then ci=true; fi
skipped=()
cleanups=()
cleanup() { for c in "${cleanups[@]}"; do eval "$c" >/dev/null 2>&1 || true; done; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

loud_skip() {
  echo
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
  echo "!!! SKIPPED: $1"
  echo "!!! because: $2"
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
  echo
  skipped+=("$1")
}

# --- An S3-compatible server for the file-store test (moto, from PyPI) ----------
if ! command -v moto_server >/dev/null 2>&1 && command -v pip >/dev/null 2>&1; then
  pip install -q "moto[server]" >/dev/null 2>&1 || true
fi
if command -v moto_server >/dev/null 2>&1; then
  s3_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  moto_server -H 127.0.0.1 -p "$s3_port" >/dev/null 2>&1 &
  moto_pid=$!
  cleanups+=("kill $moto_pid")
  for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$s3_port/" && break; sleep 0.2; done
  curl -s -o /dev/null -X PUT "http://127.0.0.1:$s3_port/zt-test"
  export ZT_TEST_S3_ENDPOINT="http://127.0.0.1:$s3_port"
elif $ci; then
  echo "FAILED: the S3 file-store test needs moto_server (pip install 'moto[server]'), and CI must run it" >&2
  exit 1
else
  loud_skip "S3 file-store test (zt-store files::s3_round_trip)" "moto_server not installed (pip install 'moto[server]')"
fi

# --- V1.0's database server and the bureau's kit, for the migration tests --------
# tests/it/migrate_v1.rs generates V1 data sets with ../shared/v1/generate.py
# and loads them into MariaDB at 127.0.0.1:3306 (root, no password); the
# tests themselves also fail in CI without them.
v1_missing=""
[ -f "$(cd .. && pwd)/shared/v1/generate.py" ] || v1_missing="../shared/v1/generate.py is not there"
command -v mariadb >/dev/null 2>&1 || v1_missing="the mariadb client is not installed"
if [ -z "$v1_missing" ] && ! mariadb -h 127.0.0.1 -P 3306 -u root --connect-timeout=5 -e 'SELECT 1' >/dev/null 2>&1; then
  v1_missing="MariaDB does not answer at 127.0.0.1:3306"
fi
if [ -n "$v1_missing" ]; then
  if $ci; then
    echo "FAILED: the V1 migration tests need MariaDB and the bureau's kit, and CI must run them: $v1_missing" >&2
    exit 1
  fi
  loud_skip "V1 migration tests (tests/it/migrate_v1.rs)" "$v1_missing"
fi

# --- The third parties' sandboxes, for the interop suites ------------------------
# The bureau's sandboxes (../shared/sandboxes: gxpt and eseal in Python, the
# identity platform in Node.js) run from a scratch copy, so that their
# virtual environment, node_modules and state never land in shared/. The
# interop tests (crates zt-gx, zt-identity, zt-licence) read the variables
# the start scripts export and skip loudly without them.
sandboxes_src="$(cd .. && pwd)/shared/sandboxes"
interop_missing=""
[ -d "$sandboxes_src" ] || interop_missing="../shared/sandboxes is not there"
command -v python3 >/dev/null 2>&1 || interop_missing="python3 is not installed"
command -v node >/dev/null 2>&1 || interop_missing="node is not installed (Node.js 20)"
if [ -z "$interop_missing" ]; then
  sb="$(mktemp -d)/sandboxes"
  cp -r "$sandboxes_src" "$sb"
  chmod -R u+w "$sb"
  rm -rf "$sb/.venv" "$sb/state" "$sb/identity/node_modules" "$sb/identity/state"
  if ! (cd "$sb" && ./setup.sh >/dev/null) || ! sb_env="$(cd "$sb" && GXPT_PORT=$(free_port) ESEAL_PORT=$(free_port) ./start.sh)"; then
    interop_missing="the gxpt/eseal sandboxes did not start (see above)"
  else
    eval "$sb_env"
    cleanups+=("(cd '$sb' && ./stop.sh)")
    bcl_port=$(free_port)
    # The platform's interop test (zhengtong tests/it/sso_interop.rs) listens
    # on this port: its OIDC callback, post-logout URI and CAS service are
    # registered at the sandbox (identity.md §1, §3, §10).
    rp="http://127.0.0.1:$(free_port)"
    export IDP_REDIRECT_URIS="$rp/auth/oidc/callback" IDP_POST_LOGOUT_REDIRECT_URIS="$rp/" IDP_CAS_SERVICES="$rp/"
    if ! id_env="$(cd "$sb" && IDP_PORT=$(free_port) IDP_BACKCHANNEL_LOGOUT_URI="http://127.0.0.1:$bcl_port/auth/oidc/backchannel-logout" identity/start.sh)"; then
      interop_missing="the identity sandbox did not start (see above)"
    else
      eval "$id_env"
      export IDP_BACKCHANNEL_LOGOUT_URI="http://127.0.0.1:$bcl_port/auth/oidc/backchannel-logout"
      cleanups+=("(cd '$sb' && identity/stop.sh)")
      export ESEAL_SANDBOX_DIR="$sb" ESEAL_PYTHON="$sb/.venv/bin/python"
    fi
  fi
fi
if [ -n "$interop_missing" ]; then
  if $ci; then
    echo "FAILED: the interop suites need the sandboxes, and CI must run them: $interop_missing" >&2
    exit 1
  fi
  loud_skip "interop suites against the gxpt, eseal and identity sandboxes" "$interop_missing"
fi

# --- Rust tests -------------------------------------------------------------
# One test process per binary (the harness shares a seeded template database
# among a binary's tests); threads are capped for the 2-core machine.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-4}"
cargo test --workspace --locked -- --test-threads="$RUST_TEST_THREADS"

# --- Browser test -----------------------------------------------------------
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium and chromium-driver (Debian packages) for the browser test"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) || true
  fi
fi
# A CJK font only makes the screenshots legible; the test does not depend on it.
if command -v fc-list >/dev/null 2>&1 && [ -z "$(fc-list :lang=zh 2>/dev/null)" ] && [ "$(id -u)" = "0" ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-zenhei >/dev/null 2>&1 || true
fi
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 && command -v python3 >/dev/null 2>&1; then
  cargo build --locked -p zhengtong
  python3 tests/browser/apply_flow.py --binary "${CARGO_TARGET_DIR:-target}/debug/zhengtong" --artifacts artifacts/browser
else
  if $ci; then
    echo "FAILED: the browser test needs chromium, chromedriver and python3, and CI must run it" >&2
    exit 1
  fi
  loud_skip "browser test (tests/browser/apply_flow.py)" "chromium/chromedriver/python3 not installed (apt-get install chromium chromium-driver)"
fi

# --- 100 % transmission accuracy, small size ------------------------------------
# The real platform against the gxpt sandbox with faults on and one SIGKILL
# restart; the full-size run is a benchmark (docs/benchmarks.md).
if [ -z "$interop_missing" ]; then
  cargo build --locked -p zhengtong
  python3 scripts/bench-gxpt-accuracy.py --events 300 --binary "${CARGO_TARGET_DIR:-target}/debug/zhengtong" \
    --sandboxes "$sb" --out artifacts/accuracy/gxpt-accuracy-300.json > /dev/null
  echo "gxpt accuracy (300 events, faults on, one restart): exactly once, reconciled"
fi

if [ ${#skipped[@]} -gt 0 ]; then
  echo "Suites skipped on this machine: ${skipped[*]}"
fi
echo "all test suites finished"
