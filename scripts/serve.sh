#!/usr/bin/env bash
# Serve TALOWA Admin locally the way a deployment does (`make serve`): with
# TALOWA_ENV=production, gunicorn (deploy/gunicorn.conf.py) and a django-q2
# worker cluster, after the deploy steps of docs/deployment.md: check
# --deploy, migrate, collectstatic, setup_schedules. Ctrl-C stops both
# (scripts/supervise.sh).
#
# Production refuses to start without SECRET_KEY and TALOWA_BACKUP_KEYS. When
# they are not set, this script (never a deployment) takes them from files in
# the data directory, made once with mode 0600: serve-secret-key, and the
# development backup key backup-dev.key that `make run` uses too, so both
# read the same backups. Plain HTTP on loopback: SECURE_SSL_REDIRECT=false.
#
# Environment: PYTHON (default .venv/bin/python), HOST (127.0.0.1), PORT (8000),
# WEB_CONCURRENCY (gunicorn workers, 2), TALOWA_DATA_DIR (var/), and any
# setting of the README.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-.venv/bin/python}
BIN=$(dirname "$PYTHON")
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
DATA_DIR=${TALOWA_DATA_DIR:-var}
export PYTHONUNBUFFERED=1
export TALOWA_ENV=production
export SECURE_SSL_REDIRECT=${SECURE_SSL_REDIRECT:-false}
export ALLOWED_HOSTS=${ALLOWED_HOSTS:-$HOST,localhost,127.0.0.1}

secret_file() {  # secret_file PATH CODE: print PATH's content, made by CODE once
  if [[ ! -s $1 ]]; then
    mkdir -p "$(dirname "$1")"
    (umask 077 && "$PYTHON" -c "$2" >"$1.tmp" && mv -n "$1.tmp" "$1")
    rm -f "$1.tmp"
  fi
  cat "$1"
}

if [[ -z ${SECRET_KEY:-} ]]; then
  SECRET_KEY=$(secret_file "$DATA_DIR/serve-secret-key" \
    'import secrets; print(secrets.token_urlsafe(50))')
  export SECRET_KEY
  echo "==> SECRET_KEY from $DATA_DIR/serve-secret-key (local serving only)"
fi
if [[ -z ${TALOWA_BACKUP_KEYS:-} ]]; then
  TALOWA_BACKUP_KEYS=$(secret_file "$DATA_DIR/backup-dev.key" \
    'from backups.keyring import DEV_KEY_ID, generate_key_spec as g; print(g(DEV_KEY_ID))')
  export TALOWA_BACKUP_KEYS
  echo "==> TALOWA_BACKUP_KEYS from $DATA_DIR/backup-dev.key (local serving only)"
fi

echo "==> Checking the deployment settings"
"$PYTHON" manage.py check --deploy --fail-level ERROR
echo "==> Applying migrations"
"$PYTHON" manage.py migrate --noinput --verbosity 1
echo "==> Collecting static files"
"$PYTHON" manage.py collectstatic --noinput --verbosity 0
echo "==> Registering the default schedules"
"$PYTHON" manage.py setup_schedules

# shellcheck source=scripts/supervise.sh
source scripts/supervise.sh

cat <<EOF

==> Starting gunicorn and the worker cluster (TALOWA_ENV=production)
    Admin:     http://$HOST:$PORT/admin/
    My data:   http://$HOST:$PORT/me/
    Liveness:  http://$HOST:$PORT/healthz   Readiness: http://$HOST:$PORT/readyz
    No demo logins are made here: run \`make run\` once, or
    \`manage.py createsuperuser\`. Press Ctrl-C to stop both.

EOF

start gunicorn "$BIN/gunicorn" --config deploy/gunicorn.conf.py --bind "$HOST:$PORT"
start qcluster "$PYTHON" manage.py qcluster
wait_any
