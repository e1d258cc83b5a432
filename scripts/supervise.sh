# Process supervision shared by scripts/run_dev.sh (`make run`) and
# scripts/serve.sh (`make serve`); source it, then `start NAME COMMAND...`
# for each process and end with `wait_any`.
#
# Each child runs in its own process group (setsid) so that the terminal's
# Ctrl-C reaches only the script, which then shuts the children down in order:
# SIGTERM to each main process (qcluster and gunicorn stop their workers
# themselves), a grace period, then SIGKILL to whatever is left in their
# process groups. If any child exits, the others are stopped.

GRACE_SECONDS=${GRACE_SECONDS:-25}

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

wait_any() {  # wait for the first child to exit, then stop the others
  set +e
  wait -n "${pids[@]}"
  local status=$?
  set -e
  echo "==> A process exited with status $status; stopping the others" >&2
  exit "$status"
}
