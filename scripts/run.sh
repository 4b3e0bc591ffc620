#!/usr/bin/env bash
# One command to run Loupe on the embedded default (SQLite + embedded broker), or on whatever the
# environment configures: install, migrate, first admin, demo projects, one Celery worker, the web server.
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

.venv/bin/celery -A loupe worker --beat --loglevel INFO --concurrency "${WORKER_CONCURRENCY:-1}" \
  --without-gossip --without-mingle &
worker=$!
trap 'kill $worker 2>/dev/null; wait $worker 2>/dev/null' EXIT INT TERM

echo
echo "Loupe is starting at http://$host:$port/  (log in with the admin above; API docs at /api/docs/)"
echo
.venv/bin/gunicorn loupe.wsgi --bind "$host:$port" --workers "${WEB_WORKERS:-2}" --threads 4 \
  --access-logfile - --graceful-timeout 5
