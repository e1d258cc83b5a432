#!/usr/bin/env bash
# Run TALOWA Admin for development (`make run`): apply migrations, load the
# demo (setup_demo), then serve the web app and a django-q2 worker cluster side
# by side. Ctrl-C (or SIGTERM) stops both; if either exits, the other is stopped.
#
# Each child runs in its own process group (setsid) so that the terminal's
# Ctrl-C reaches only this script, which then shuts the children down in order:
# SIGTERM to each main process (qcluster stops its workers itself), a grace
# period, then SIGKILL to whatever is left in their process groups.
#
# Environment: PYTHON (default .venv/bin/python), HOST (127.0.0.1), PORT (8000),
# RUNSERVER_ARGS (extra runserver options, e.g. --noreload).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-.venv/bin/python}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
RUNSERVER_ARGS=${RUNSERVER_ARGS:-}
GRACE_SECONDS=15
export PYTHONUNBUFFERED=1

echo "==> Applying migrations"
"$PYTHON" manage.py migrate --noinput --verbosity 1
echo "==> Setting up the demo"
"$PYTHON" manage.py setup_demo --base-url "http://$HOST:$PORT"
if "$PYTHON" manage.py help setup_schedules >/dev/null 2>&1; then
  echo "==> Registering the default schedules"
  "$PYTHON" manage.py setup_schedules
fi

pids=()
names=()
stopping=0

start() {  # start NAME COMMAND...: run COMMAND in a new process group
  local name=$1
  shift
  setsid "$@" &
  pids+=("$!")
  names+=("$name")
}

alive() {  # alive PID: is any process of PID's process group still running?
  kill -0 -- "-$1" 2>/dev/null
}

signal_groups() {  # signal_groups SIGNAL: signal every process of the children's groups
  local pid
  for pid in "${pids[@]}"; do
    kill "-$1" -- "-$pid" 2>/dev/null || true
  done
}

stop_children() {
  ((${#pids[@]})) || return 0
  if [[ $stopping == 1 ]]; then  # a second Ctrl-C: do not wait any longer
    signal_groups KILL
    return
  fi
  stopping=1
  echo
  echo "==> Stopping ${names[*]}"
  local pid
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  # bash reaps exited children itself, so kill -0 fails once a group is empty.
  local deadline=$((SECONDS + GRACE_SECONDS))
  for pid in "${pids[@]}"; do
    while alive "$pid" && ((SECONDS < deadline)); do
      sleep 0.2
    done
  done
  for pid in "${pids[@]}"; do
    if alive "$pid"; then
      echo "    process group $pid did not stop in ${GRACE_SECONDS}s; killing it" >&2
      kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  echo "==> Stopped"
}

trap 'stop_children; exit 0' INT  # Ctrl-C is how one stops it: a clean exit
trap 'stop_children; exit 143' TERM
trap 'stop_children; exit 129' HUP
trap 'stop_children' EXIT

cat <<EOF

==> Starting the web server and the worker cluster
    Admin:    http://$HOST:$PORT/admin/
    My data:  http://$HOST:$PORT/me/
    Log in with the users and password printed above. Press Ctrl-C to stop both.

EOF

# shellcheck disable=SC2086  # RUNSERVER_ARGS is a list of options
start runserver "$PYTHON" manage.py runserver "$HOST:$PORT" $RUNSERVER_ARGS
start qcluster "$PYTHON" manage.py qcluster

set +e
wait -n "${pids[@]}"
status=$?
set -e
echo "==> A process exited with status $status; stopping the other" >&2
exit "$status"
