#!/usr/bin/env bash
# `make deploy`: HAProxy on PORT, the Bento of @production behind it, the controller that follows the alias.
#   bash deploy/deploy.sh         start the stack in the background, return once it serves
#   bash deploy/deploy.sh stop    stop what an earlier run started (by the pids it recorded)
# Honours MLFLOW_TRACKING_URI (local store: an MLflow server with webhooks on MLFLOW_PORT), PORT, and the
# CREDIT_DEPLOY_* settings (internal ports, checks, canary).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
PORT=${PORT:-3000}
MLFLOW_PORT=${MLFLOW_PORT:-5000}
STATE=${CREDIT_DATA_DIR:-var}/deploy
export WHYLOGS_NO_ANALYTICS=1 BENTOML_DO_NOT_TRACK=True

stop_group() {  # stop_group PIDFILE SECONDS: SIGTERM the process group, SIGKILL what outlives SECONDS
  local pidfile=$1 seconds=$2 pid
  [ -e "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    echo "stopping $(basename "$pidfile" .pid) (process group $pid)"
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq "$((seconds * 2))"); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

stop_all() {  # the controller first (it drains and stops its servers), then anything it left behind
  stop_group "$STATE/controller.pid" 120
  local pidfile
  for pidfile in "$STATE"/*.pid; do
    [ -e "$pidfile" ] && stop_group "$pidfile" 30
  done
  return 0
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

status_field() {  # status_field PYTHON-EXPRESSION-ON-s: read var/deploy/status.json
  "$PY" -c "import json,sys; s=json.load(open('$STATE/status.json')); print($1)" 2>/dev/null || true
}

wait_until_serving() {
  local seconds=$1
  for _ in $(seq "$((seconds * 2))"); do
    if [ "$(status_field "bool(s['serving'])")" = True ]; then return 0; fi
    if [ "$(status_field "(s['last_attempt'] or {}).get('outcome')")" = failed ]; then
      echo "error: the first deployment failed: $(status_field "s['last_error']['reason']")" >&2
      return 1
    fi
    if ! kill -0 "$(cat "$STATE/controller.pid")" 2>/dev/null; then
      echo "error: the controller exited; last lines of $STATE/controller.log:" >&2
      tail -n 20 "$STATE/controller.log" >&2
      return 1
    fi
    sleep 0.5
  done
  echo "error: nothing served within ${seconds}s (see $STATE/controller.log)" >&2
  return 1
}

mkdir -p "$STATE"
if [ "${1:-}" = "stop" ]; then
  stop_all
  exit 0
fi
stop_all  # a second `make deploy` replaces the first one
for port in "$PORT" "${CREDIT_DEPLOY_BLUE_PORT:-3001}" "${CREDIT_DEPLOY_GREEN_PORT:-3002}" \
  "${CREDIT_DEPLOY_LISTENER_PORT:-3003}"; do
  if port_busy "$port"; then
    echo "error: port $port is already in use; stop what uses it or choose other ports (PORT=," \
      "CREDIT_DEPLOY_BLUE_PORT=, CREDIT_DEPLOY_GREEN_PORT=, CREDIT_DEPLOY_LISTENER_PORT=)" >&2
    exit 1
  fi
done
rm -f "$STATE/status.json"
echo "starting the deploy controller (builds and serves @production; log $STATE/controller.log) ..."
setsid "$PY" deploy/controller.py run --port "$PORT" --mlflow-port "$MLFLOW_PORT" >"$STATE/controller.log" 2>&1 &
echo $! >"$STATE/controller.pid"
if ! wait_until_serving 600; then
  stop_all
  exit 1
fi
cat <<EOF2

Deployed: $(status_field "'version %s of the model (%s server, Bento %s)' % (s['serving']['version'], s['serving']['colour'], s['serving']['bento'])")
  API (through HAProxy)  http://localhost:$PORT/
  MLflow registry / UI   $(status_field "s['urls']['mlflow']")   (move @production there: the controller deploys it)
  Controller status      $(status_field "s['urls']['status']")   (or: make deploy-status)
  Logs and pids          $STATE/

Stop everything:  make deploy-stop
EOF2
