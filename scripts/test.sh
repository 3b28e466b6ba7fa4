#!/usr/bin/env bash
# Quick start, part 2: the whole test suite. PostgreSQL tests use $COFOUNDER_TEST_POSTGRES_URL, or
# a throwaway cluster started here when PostgreSQL's binaries are installed; otherwise they skip
# (CI sets COFOUNDER_REQUIRE_POSTGRES=1 so they can never skip silently).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh

pg_dir=""
cleanup() {
  if [[ -n $pg_dir ]]; then
    su postgres -c "$(ls -d /usr/lib/postgresql/*/bin | tail -1)/pg_ctl -D $pg_dir -m immediate stop" >/dev/null 2>&1 || true
    rm -rf "$pg_dir"
  fi
}
trap cleanup EXIT
if [[ -z ${COFOUNDER_TEST_POSTGRES_URL:-} ]] && [[ $(id -u) -eq 0 ]] && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | tail -1)
  pg_dir=$(mktemp -d /tmp/cofounder-pg.XXXXXX)
  chown postgres "$pg_dir"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  su postgres -c "$pg_bin/initdb -D $pg_dir -A trust -U postgres --no-sync >/dev/null && $pg_bin/pg_ctl -D $pg_dir -l $pg_dir/log -o '-p $port -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300' -w start >/dev/null"
  export COFOUNDER_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:$port/postgres"
  echo "test: started a throwaway PostgreSQL on port $port" >&2
fi
# Many tests wait on real time (budget windows, deadlines, servers starting): one more worker
# than cores keeps the CPU busy meanwhile (COFOUNDER_TEST_WORKERS overrides); idle workers
# steal queued tests, so the few long end-to-end ones do not all land at the end.
.venv/bin/python -m pytest -n "${COFOUNDER_TEST_WORKERS:-$(($(nproc) + 1))}" --dist worksteal "$@"
