#!/usr/bin/env bash
# Make .venv (if missing) and install the lock file of a requirements file into it, every package pinned with its
# hashes (only when the lock changed). A lock older than the requirements files stops here: run scripts/lock.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
requirements=${1:-requirements.txt}
lock="${requirements%.txt}.lock"
python=${PYTHON:-python3}

scripts/check_locks.sh
if [ ! -x .venv/bin/python ]; then
  echo "==> Creating .venv with $($python --version)"
  "$python" -m venv .venv
fi
stamp=".venv/.installed-$(basename "$lock")"
lock_digest=$(sha256sum "$lock" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$lock_digest" ]; then
  echo "==> Installing $lock"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  # torch's CPU build comes from this machine's wheel folder (pip's find-links), the rest from the package index.
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r "$lock"
  echo "$lock_digest" > "$stamp"
fi
