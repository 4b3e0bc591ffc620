#!/usr/bin/env bash
# Refresh the pictures in docs/screenshots/: runs the browser tests marked `screenshots` with LOUPE_SCREENSHOT_DIR
# set, on a scratch SQLite database and the embedded broker. A normal test run never writes these files.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh requirements-test.txt

export PATH="$PWD/.venv/bin:$PATH"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export LOUPE_DATA_DIR="$scratch/data" CELERY_QUEUE="loupe-screenshots-$$"
export LOUPE_SCREENSHOT_DIR="$PWD/docs/screenshots"
DATABASE_URL="sqlite:///$scratch/sqlite/loupe.sqlite3" CELERY_BROKER_URL="sqla+sqlite:///$scratch/broker.sqlite3" \
  pytest tests/e2e -m screenshots --browser chromium "$@"
