#!/usr/bin/env bash
# Run TALOWA Admin for development (`make run`): apply migrations, load the
# demo (setup_demo), then serve the web app and a django-q2 worker cluster side
# by side. Ctrl-C (or SIGTERM) stops both; if either exits, the other is stopped
# (scripts/supervise.sh).
#
# Environment: PYTHON (default .venv/bin/python), HOST (127.0.0.1), PORT (8000),
# RUNSERVER_ARGS (extra runserver options, e.g. --noreload).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-.venv/bin/python}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
RUNSERVER_ARGS=${RUNSERVER_ARGS:-}
export PYTHONUNBUFFERED=1

echo "==> Applying migrations"
"$PYTHON" manage.py migrate --noinput --verbosity 1
echo "==> Setting up the demo"
"$PYTHON" manage.py setup_demo --base-url "http://$HOST:$PORT"
if "$PYTHON" manage.py help setup_schedules >/dev/null 2>&1; then
  echo "==> Registering the default schedules"
  "$PYTHON" manage.py setup_schedules
fi

# shellcheck source=scripts/supervise.sh
source scripts/supervise.sh

cat <<EOF

==> Starting the web server and the worker cluster
    Admin:    http://$HOST:$PORT/admin/
    My data:  http://$HOST:$PORT/me/
    Log in with the users and password printed above. Press Ctrl-C to stop both.

EOF

# shellcheck disable=SC2086  # RUNSERVER_ARGS is a list of options
start runserver "$PYTHON" manage.py runserver "$HOST:$PORT" $RUNSERVER_ARGS
start qcluster "$PYTHON" manage.py qcluster

wait_any
