#!/usr/bin/env bash
# Fail when a lock file was made from other requirements*.txt than the ones in the tree (run scripts/lock.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
digest=$(cat requirements*.txt | sha256sum | cut -d' ' -f1)
for requirements in requirements*.txt; do
  lock="${requirements%.txt}.lock"
  if ! grep -qx "# requirements digest: $digest" "$lock" 2>/dev/null; then
    echo "$lock does not match requirements*.txt: run scripts/lock.sh and commit the .lock files" >&2
    exit 1
  fi
done
