#!/usr/bin/env bash
# One command to run Loupe on the embedded default (SQLite + embedded broker), or on whatever the
# environment configures: install, migrate, first admin, demo projects, three Celery workers, the web server.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh requirements.txt

[ -f .env ] && { set -a; . ./.env; set +a; }
host=${LOUPE_HOST:-127.0.0.1}
port=${LOUPE_PORT:-8000}
py=.venv/bin/python

$py manage.py migrate --noinput
$py manage.py collectstatic --noinput --verbosity 0
$py manage.py ensure_admin
$py manage.py load_demo

# Three workers, one per queue (loupe/settings.py TASK_QUEUES), so a ranking never waits behind an import or an
# export, and neither waits behind an embedding; the interactive one also runs beat (the stale-job sweep), which
# must run only once.
queue=${CELERY_QUEUE:-loupe}
# Workers read whole pools in one statement (an embedding of a million items): a longer statement limit than the
# web's, which stays short so no request waits on a stuck writer. Imports, exports and embeddings run at a lower
# CPU priority, so on a small machine they take the cores the web is not using instead of slowing annotators;
# rankings run at the web's: a ranking is the order annotators are served next, and its runs are short, one at a
# time.
celery=(env DATABASE_STATEMENT_TIMEOUT_S="${WORKER_STATEMENT_TIMEOUT_S:-900}"
  .venv/bin/celery -A loupe worker --loglevel INFO --without-gossip --without-mingle)
nice -n "${WORKER_NICE:-10}" "${celery[@]}" --beat --queues "$queue" --hostname "interactive@%h" \
  --concurrency "${WORKER_CONCURRENCY:-1}" &
interactive=$!
nice -n "${RANKING_NICE:-0}" "${celery[@]}" --queues "$queue-rankings" --hostname "rankings@%h" \
  --concurrency "${RANKING_CONCURRENCY:-1}" &
rankings=$!
nice -n "${WORKER_NICE:-10}" "${celery[@]}" --queues "$queue-training" --hostname "training@%h" \
  --concurrency "${TRAINING_CONCURRENCY:-1}" &
training=$!
trap 'kill $interactive $rankings $training 2>/dev/null; wait $interactive $rankings $training 2>/dev/null' EXIT INT TERM

echo
echo "Loupe is starting at http://$host:$port/  (log in with the admin above; API docs at /api/docs/)"
echo
.venv/bin/gunicorn loupe.wsgi --bind "$host:$port" --workers "${WEB_WORKERS:-2}" --threads 4 \
  --access-logfile - --graceful-timeout 5
