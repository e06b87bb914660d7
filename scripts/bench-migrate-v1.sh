#!/usr/bin/env bash
# Benchmark of `zhengtong migrate-v1` (docs/benchmarks.md): a generated V1
# set of CASES cases migrated into a fresh SQLite database and a fresh
# PostgreSQL database, with wall time, CPU (user/sys of zhengtong) and peak
# RSS from /usr/bin/time, RSS sampled every 5 s, and the self-check against
# the manifest. Not a test: run it by hand on a quiet machine.
#   scripts/bench-migrate-v1.sh [CASES] [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
cases="${1:-200000}"
work="${2:-/tmp/zt-bench-migrate}"
kit="$(cd .. && pwd)/shared/v1"
mysql=(mariadb -h 127.0.0.1 -P 3306 -u root)
pg_admin="${ZT_BENCH_PG_ADMIN:-postgres://postgres@127.0.0.1:5432/test}"
set_dir="$work/v1-$cases"
db="gov_v1_bench_$cases"
mkdir -p "$work"

if [ ! -f "$set_dir/manifest.json" ]; then
  rm -rf "$set_dir"
  /usr/bin/time -f "generate: %e s, peak %M KB" python3 "$kit/generate.py" --seed 20161101 --cases "$cases" --out "$set_dir"
fi
"${mysql[@]}" -e "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
/usr/bin/time -f "load: %e s" "${mysql[@]}" "$db" < "$set_dir/gov_v1.sql"

cargo build --release --locked -p zhengtong
bin="${CARGO_TARGET_DIR:-target}/release/zhengtong"

run() { # backend url data_dir
  local name="$1" url="$2" dir="$3"
  rm -rf "$dir"; mkdir -p "$dir"
  ZT_DATABASE_URL="$url" ZT_DATA_DIR="$dir/data" "$bin" db migrate > "$dir/migrate.log" 2>&1
  ZT_DATABASE_URL="$url" ZT_DATA_DIR="$dir/data" /usr/bin/time -v "$bin" migrate-v1 \
      --source "mysql://root@127.0.0.1:3306/$db" --files "$set_dir/files" --report "$dir/report" \
      --manifest "$set_dir/manifest.json" --progress plain > "$dir/run.log" 2>&1 &
  local tpid=$! zpid=""
  while kill -0 "$tpid" 2>/dev/null; do
    [ -z "$zpid" ] && zpid="$(pgrep -P "$tpid" -x zhengtong || true)"
    if [ -n "$zpid" ]; then
      echo "$(date +%T) $(awk '/VmRSS/{print $2}' "/proc/$zpid/status" 2>/dev/null) $(grep 'migrate-v1 t_' "$dir/run.log" | tail -1)" >> "$dir/rss.log"
    fi
    sleep 5
  done
  wait "$tpid" || true
  echo "== $name"
  grep -E "self-check|Elapsed|User time|System time|Maximum resident" "$dir/run.log"
  echo "RSS while migrating (KB, max of samples): $(awk '{ if ($2 > m) m = $2 } END { print m }' "$dir/rss.log")"
}

run sqlite "sqlite://$work/sqlite-$cases/zt.db" "$work/sqlite-$cases"
pg_db="zt_bench_migrate_$cases"
psql "$pg_admin" -qc "DROP DATABASE IF EXISTS $pg_db" -c "CREATE DATABASE $pg_db"
run postgres "${pg_admin%/*}/$pg_db" "$work/postgres-$cases"
