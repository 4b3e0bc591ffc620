#!/usr/bin/env bash
# One command for the whole suite: lint, unit tests, integration tests on SQLite + the embedded broker and
# on PostgreSQL + Redis (each with a real Celery worker process), and browser tests in Debian's Chromium.
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
export LOUPE_DATA_DIR="$scratch/data" CELERY_QUEUE="loupe-test-$$"
pg_url="postgres://postgres@127.0.0.1:5432/loupe"
redis_url="redis://127.0.0.1:6379/15"

echo "==> ruff"
ruff check .
echo "==> mypy (the engine, active_learning/core, strict)"
mypy
echo "==> unit tests"
pytest tests/unit
echo "==> integration + browser tests on SQLite and the embedded broker"
DATABASE_URL="sqlite:///$scratch/sqlite/loupe.sqlite3" CELERY_BROKER_URL="sqla+sqlite:///$scratch/broker.sqlite3" \
  pytest tests/integration tests/e2e --browser chromium
echo "==> integration tests on PostgreSQL and Redis"
DATABASE_URL="$pg_url" CELERY_BROKER_URL="$redis_url" pytest tests/integration
