#!/usr/bin/env bash
# The static checks `make test` runs before any test (and .pre-commit-config.yaml on each commit).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
echo "==> ruff"
ruff check .
ruff format --check .
echo "==> mypy"
mypy
echo "==> migrations"
python manage.py makemigrations --check --dry-run
echo "==> dependencies"
scripts/check_locks.sh
python scripts/check_imports.py
echo "==> wording"
python scripts/check_wording.py
