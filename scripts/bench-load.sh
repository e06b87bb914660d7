#!/usr/bin/env bash
# Load benchmark (not a test): zhengtong serve on SQLite and on PostgreSQL,
# driven by tools/loadtest with the government-scenario mix.
#
#   scripts/bench-load.sh [users] [seconds] [backend...]
#   e.g. scripts/bench-load.sh 500 60 sqlite postgres
#   ZT_BENCH_RAMP (seconds, default 10) and ZT_BENCH_THINK_MS (maximum think
#   time per request, default 200) shape the load.
#
# The server is pinned to CPU 0 and the load generator to CPU 1 (taskset), and
# the server's CPU time per request is reported beside latency. Results go to
# artifacts/bench/<backend>-<users>.json and are summarised on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
users="${1:-500}"
secs="${2:-60}"
shift 2 || true
backends=("$@")
[ ${#backends[@]} -gt 0 ] || backends=(sqlite postgres)
port="${ZT_BENCH_PORT:-18090}"
pg_admin="${ZT_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
out=artifacts/bench
mkdir -p "$out"

cargo build --release --locked -p zhengtong -p zt-loadtest
ulimit -n 65536 2>/dev/null || true

clk_tck=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

for backend in "${backends[@]}"; do
  dir=$(mktemp -d)
  case "$backend" in
    sqlite) url="sqlite://$dir/bench.db" ;;
    postgres)
      db="zt_bench_$$"
      psql "$pg_admin" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
      url="${pg_admin%/*}/$db" ;;
    *) echo "unknown backend $backend" >&2; exit 2 ;;
  esac
  echo "== $backend: seeding demo data"
  ZT_LOG=warn ZT_DATA_DIR="$dir" ZT_DATABASE_URL="$url" target/release/zhengtong demo --seed-only
  ZT_LOG=warn ZT_DATA_DIR="$dir" ZT_DATABASE_URL="$url" target/release/zhengtong admin calendar import \
    scripts/bench-calendar-2027-provisional.toml --source "基准测试临时数据（非官方）"
  # Outside demo mode the demo accounts' published password must be changed
  # at first login, and staff passwords expire: the virtual users act as
  # owners who have chosen theirs.
  case "$backend" in
    sqlite) python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("UPDATE users SET must_change_password = 0"); c.commit()' "$dir/bench.db" ;;
    postgres) psql "$url" -qc "UPDATE users SET must_change_password = 0" ;;
  esac
  echo "== $backend: serving on 127.0.0.1:$port (CPU 0), $users users for ${secs}s (CPU 1)"
  # Every virtual user logs in from 127.0.0.1: lift the per-address login limit.
  ZT_LOGIN_RATE_PER_MINUTE=1000000 ZT_PASSWORD_MAX_AGE_DAYS=0 ZT_LOG=warn ZT_DATA_DIR="$dir" ZT_DATABASE_URL="$url" ZT_LISTEN="127.0.0.1:$port" \
    taskset -c 0 target/release/zhengtong serve &
  pid=$!
  for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
  before=$(cpu_ticks "$pid")
  set +e
  taskset -c 1 target/release/zt-loadtest --base-url "http://127.0.0.1:$port" --users "$users" \
    --duration "$secs" --ramp-up "${ZT_BENCH_RAMP:-10}" --think-ms "${ZT_BENCH_THINK_MS:-200}" \
    --report "$out/$backend${ZT_SQLITE_LAYOUT:+-$ZT_SQLITE_LAYOUT}-$users-think${ZT_BENCH_THINK_MS:-200}.json"
  rc=$?
  set -e
  after=$(cpu_ticks "$pid")
  rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  python3 - "$out/$backend${ZT_SQLITE_LAYOUT:+-$ZT_SQLITE_LAYOUT}-$users-think${ZT_BENCH_THINK_MS:-200}.json" "$before" "$after" "$clk_tck" "$rss_kb" <<'PY'
import json, sys
path, before, after, tck, rss = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
r = json.load(open(path))
cpu_s = (after - before) / tck
n = r.get("total_requests") or sum(k.get("count", 0) for k in r.get("kinds", []))
r["server_cpu_seconds"] = cpu_s
r["server_cpu_ms_per_request"] = (cpu_s * 1000 / n) if n else None
r["server_peak_rss_mib"] = rss / 1024
json.dump(r, open(path, "w"), indent=2, ensure_ascii=False)
print(f"server CPU: {cpu_s:.1f} s for {n} requests = {r['server_cpu_ms_per_request']:.3f} ms/request; peak RSS {rss/1024:.0f} MiB")
PY
  [ "$backend" = postgres ] && psql "$pg_admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
  rm -rf "$dir"
  echo "== $backend: load generator exit code $rc"
done
