#!/usr/bin/env bash
# One command for the whole suite: static checks (scripts/checks.sh), unit tests, integration tests on SQLite +
# the embedded broker and on PostgreSQL + Redis (each with a real Celery worker process), and browser tests in
# Debian's Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh requirements-test.txt
scripts/services.sh

if ! command -v chromium >/dev/null; then
  echo "==> Installing Debian's chromium for the browser tests"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

export PATH="$PWD/.venv/bin:$PATH"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/sqlite"
export LOUPE_DATA_DIR="$scratch/data" CELERY_QUEUE="loupe-test-$$"
pg_url="postgres://postgres@127.0.0.1:5432/loupe"
redis_url="redis://127.0.0.1:6379/15"

scripts/checks.sh
echo "==> unit tests"
pytest tests/unit

# The two integration runs share nothing (database, broker, queue names, data directory) and spend most of their
# time waiting on worker processes and the browser, so they run side by side; each one's lines carry its name.
run_suite() {  # name, then the environment and command of one run
  local name=$1
  shift
  env LOUPE_DATA_DIR="$scratch/$name/data" CELERY_QUEUE="loupe-test-$name-$$" "$@" 2>&1 | sed -u "s/^/[$name] /"
}
echo "==> integration + browser tests on SQLite and the embedded broker [sqlite], and on PostgreSQL and Redis [postgres]"
run_suite sqlite DATABASE_URL="sqlite:///$scratch/sqlite/loupe.sqlite3" \
  CELERY_BROKER_URL="sqla+sqlite:///$scratch/sqlite/broker.sqlite3" pytest tests/integration tests/e2e --browser chromium &
sqlite_run=$!
run_suite postgres DATABASE_URL="$pg_url" CELERY_BROKER_URL="$redis_url" pytest tests/integration &
postgres_run=$!
failed=0
wait "$sqlite_run" || { echo "==> the SQLite run failed"; failed=1; }
wait "$postgres_run" || { echo "==> the PostgreSQL run failed"; failed=1; }
exit "$failed"
