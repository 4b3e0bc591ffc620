#!/usr/bin/env bash
# Retake docs/screenshots from the running app: the browser tests that show each page, with LOUPE_SCREENSHOTS=1
# (any other test run writes its pictures to a scratch folder and leaves the tracked ones alone).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh requirements-test.txt
export PATH="$PWD/.venv/bin:$PATH"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export LOUPE_SCREENSHOTS=1 LOUPE_DATA_DIR="$scratch/data" CELERY_QUEUE="loupe-screenshots-$$"
DATABASE_URL="sqlite:///$scratch/sqlite/loupe.sqlite3" CELERY_BROKER_URL="sqla+sqlite:///$scratch/broker.sqlite3" \
  pytest tests/e2e/test_labeling_page.py tests/e2e/test_dashboard.py tests/e2e/test_strategy_page.py \
  tests/e2e/test_wizard.py --browser chromium
git status --short docs/screenshots
