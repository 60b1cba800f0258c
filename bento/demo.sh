#!/usr/bin/env bash
# `make demo`: the whole main job from nothing, on embedded defaults (SQLite, local files, synthetic data).
#   bash bento/demo.sh        data -> train -> promote -> challenger -> build -> serve + monitor + MLflow UI
#                             -> history (both models) -> outcomes -> reports -> traffic
#   bash bento/demo.sh stop   stop what an earlier run started (by the pids it recorded)
# Ports and sizes come from the environment: PORT, MONITOR_PORT, MLFLOW_PORT, ROWS, BACKFILL_DAYS, BACKFILL_PER_DAY,
# OUTCOME_MATURITY_DAYS, CHALLENGER_LEAVES, CHALLENGER_LEARNING_RATE (the challenger variant).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
PORT=${PORT:-3000}
MONITOR_PORT=${MONITOR_PORT:-8501}
MLFLOW_PORT=${MLFLOW_PORT:-5000}
ROWS=${ROWS:-100000}
STATE=var/demo
export WHYLOGS_NO_ANALYTICS=1 BENTOML_DO_NOT_TRACK=True

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

stop_all() {  # each service runs in its own session (setsid): signal the whole group, servers' workers included
  local pidfile pid
  for pidfile in "$STATE"/*.pid; do
    [ -e "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      echo "stopping $(basename "$pidfile" .pid) (process group $pid)"
      kill -TERM -- "-$pid" 2>/dev/null || true
      for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
  done
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_background() {  # start_background NAME PORT COMMAND...
  local name=$1 port=$2
  shift 2
  if port_busy "$port"; then
    echo "error: port $port is already in use; stop what uses it (make demo-stop) or set ${name^^}_PORT" >&2
    exit 1
  fi
  setsid "$@" >"$STATE/$name.log" 2>&1 &
  echo $! >"$STATE/$name.pid"
  echo "$name started (pid $!, log $STATE/$name.log)"
}

wait_for() {  # wait_for NAME URL SECONDS
  local name=$1 url=$2 seconds=$3
  for _ in $(seq "$((seconds * 2))"); do
    if "$PY" -c "import httpx,sys; sys.exit(httpx.get('$url', timeout=2).status_code != 200)" 2>/dev/null; then
      echo "$name is up: $url"
      return 0
    fi
    if ! kill -0 "$(cat "$STATE/$name.pid")" 2>/dev/null; then
      echo "error: $name exited; last lines of $STATE/$name.log:" >&2
      tail -n 30 "$STATE/$name.log" >&2
      exit 1
    fi
    sleep 0.5
  done
  echo "error: $name did not answer at $url within ${seconds}s (see $STATE/$name.log)" >&2
  exit 1
}

mkdir -p "$STATE"
if [ "${1:-}" = "stop" ]; then
  stop_all
  exit 0
fi
stop_all  # a second `make demo` replaces the first one's servers

step "1/7 Synthetic data ($ROWS rows, the exact application_train.csv format)"
"$PY" registry/make_data.py --rows "$ROWS" --out var/synthetic/application_train.csv

step "2/7 Train, track in MLflow and register (same rows, regenerated from the same seed)"
CREDIT_SYNTHETIC_ROWS=$ROWS "$PY" registry/train.py

step "3/7 Promote to @production (refused if worse than the current champion)"
"$PY" registry/promote.py || echo "promotion refused: the current @production model stays in service"

step "4/7 A challenger: a second variant (more leaves, faster learning), set as @challenger to score in shadow"
# Its own version in the registry; `make challenger` applies the promotion's gates (ONNX parity, calibration)
# and never touches @production. Bigger steps, so fewer trees: this training is the shorter of the two.
CREDIT_SYNTHETIC_ROWS=$ROWS "$PY" registry/train.py --num-leaves "${CHALLENGER_LEAVES:-31}" \
  --learning-rate "${CHALLENGER_LEARNING_RATE:-0.15}"
"$PY" registry/challenger.py || echo "challenger refused: the service runs without shadow scoring"

step "5/7 Build the Bento from models:/credit-scoring@production (and @challenger, scored in shadow)"
"$PY" bento/build.py

step "6/7 Serve the API, the monitor and the MLflow UI"
# The demo's store starts empty: a second backfill into the first one's store would add a second history.
rm -rf var/monitoring
# Profiles reach disk at every checkpoint (30 s by default): every 5 s here, so the monitor and the drift
# report see the demo's traffic within seconds.
CREDIT_CHECKPOINT_INTERVAL_S=${CREDIT_CHECKPOINT_INTERVAL_S:-5} \
  start_background api "$PORT" "$PY" bento/serve.py --port "$PORT"
start_background mlflow "$MLFLOW_PORT" "$PY" registry/mlflow_ui.py --port "$MLFLOW_PORT"
start_background monitor "$MONITOR_PORT" "$PY" monitor_app/serve_monitor.py \
  --server.port "$MONITOR_PORT" --server.headless true --browser.gatherUsageStats false
wait_for api "http://localhost:$PORT/readyz" 180
wait_for monitor "http://localhost:$MONITOR_PORT/_stcore/health" 120
wait_for mlflow "http://localhost:$MLFLOW_PORT/health" 120

step "7/7 Simulated history and traffic so the monitor has something to show"
# Days of history (daily rhythm, a drift episode, a latency incident), marked simulated in the store, so
# every chart of the monitor opens on days, not on two points; then live traffic through the API.
"$PY" monitor_app/backfill.py --days "${BACKFILL_DAYS:-90}" --per-day "${BACKFILL_PER_DAY:-1000}"
# Loan outcomes for the decisions old enough to have matured (simulated: shortened to 30 days so the demo's
# three months show realized beside estimated performance; a real loan book takes a year), then the report.
"$PY" -m credit_scoring_tools.outcome_simulation --maturity-days "${OUTCOME_MATURITY_DAYS:-30}"
"$PY" monitor_app/performance_report.py --out var/reports/performance \
  || echo "(the performance report raised an alert: see var/reports/performance/performance.md)"
# The challenger scored the same history in shadow: agreement, score shift, estimated and realized cost.
"$PY" monitor_app/challenger_report.py --out var/reports/challenger \
  || echo "(no challenger report: no version carries @challenger)"
"$PY" monitor_app/simulate.py --scenario normal --rate 40 --duration 20 --port "$PORT"
"$PY" monitor_app/simulate.py --scenario bad-inputs --rate 20 --duration 5 --port "$PORT"
"$PY" monitor_app/simulate.py --scenario drift --rate 40 --duration 15 --port "$PORT"
sleep 7  # one checkpoint (5 s) and a margin: the last drifted rows are in the profiles on disk
"$PY" monitor_app/drift_report.py --out var/reports/latest || echo "(the drift report raised an alert, as the drift scenario intends)"

"$PY" -c "from credit_scoring.serving.launcher import write_example_request; write_example_request(__import__('pathlib').Path('$STATE/example_request.json'))"
cat <<EOF

Everything is running:
  API (Swagger UI)   http://localhost:$PORT/
  Monitor            http://localhost:$MONITOR_PORT/?range=last+7+days   (history: last 7 days)
  MLflow UI          http://localhost:$MLFLOW_PORT/
  Drift report       var/reports/latest/report.md
  Performance report var/reports/performance/performance.md  (monitor page "Model performance")
  Challenger report  var/reports/challenger/challenger.md    (monitor page "Challenger")

Score an application:
  curl -s -X POST http://localhost:$PORT/score -H 'Content-Type: application/json' -d @$STATE/example_request.json

More traffic:  make simulate SCENARIO=drift      Stop everything:  make demo-stop
Promote the challenger on its live evidence:  make promote VERSION=<its version> MIN_SHADOW=1000
EOF
