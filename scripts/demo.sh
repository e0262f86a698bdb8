#!/usr/bin/env bash
# The README's demo: on a fresh machine, set up, start the ModelRed emulator, define the connection, run
# the release-gate example DAG with a real deferral (`airflow dags test` runs the trigger inline), print
# the assessment's summary, and stop everything it started.
#
#   bash scripts/demo.sh                      # against the bundled emulator
#   AIRFLOW_CONN_MODELRED_DEFAULT='{"conn_type": "modelred", "host": "https://app.modelred.ai",
#     "password": "mr_..."}' MODELRED_DEMO_MODEL=<your model slug> bash scripts/demo.sh   # real ModelRed
#
# Settings: MODELRED_DEMO_MODEL (default gpt-4o-prod; try llama-weak to see the gate fail),
# MODELRED_DEMO_ASSESSMENT_SECONDS (emulator, default 12), MODELRED_POLL_INTERVAL (default 2 with the
# emulator, 30 against ModelRed). The full Airflow log is kept in the printed log file.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO="$PWD"
START=$(date +%s)

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

say "Setting up .venv (Airflow 3.3 + this provider)"
bash scripts/bootstrap.sh
PY="$REPO/.venv/bin/python"
AIRFLOW="$REPO/.venv/bin/airflow"

WORK="$(mktemp -d -t modelred-demo-XXXXXX)"
EMULATOR_PID=""
cleanup() {
  local status=$?
  if [ -n "$EMULATOR_PID" ]; then
    # The emulator runs in its own process group: TERM the group, then KILL what is left.
    kill -TERM -- "-$EMULATOR_PID" 2>/dev/null || kill -TERM "$EMULATOR_PID" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$EMULATOR_PID" 2>/dev/null || break; sleep 0.3; done
    kill -KILL -- "-$EMULATOR_PID" 2>/dev/null || true
    echo "Stopped the emulator (pid $EMULATOR_PID)."
  fi
  if [ "${MODELRED_DEMO_KEEP:-}" = "1" ]; then
    echo "Kept $WORK (MODELRED_DEMO_KEEP=1)."
  else
    rm -rf "$WORK"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A private Airflow: its own home and database, the example DAGs, nothing else.
export AIRFLOW_HOME="$WORK/airflow"
export AIRFLOW__CORE__DAGS_FOLDER="$REPO/dags_examples"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__UNIT_TEST_MODE=False
export AIRFLOW__LOGGING__LOGGING_LEVEL="${AIRFLOW__LOGGING__LOGGING_LEVEL:-INFO}"
mkdir -p "$AIRFLOW_HOME"

if [ -n "${AIRFLOW_CONN_MODELRED_DEFAULT:-}" ]; then
  say "Using your AIRFLOW_CONN_MODELRED_DEFAULT (the emulator is not started)"
  export MODELRED_POLL_INTERVAL="${MODELRED_POLL_INTERVAL:-30}"
else
  PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  DEMO_KEY="mr_demo_key_0001"
  say "Starting the ModelRed emulator on http://127.0.0.1:$PORT"
  setsid "$PY" -m modelred_provider.testing.emulator --host 127.0.0.1 --port "$PORT" --api-key "$DEMO_KEY" \
    --assessment-seconds "${MODELRED_DEMO_ASSESSMENT_SECONDS:-12}" >"$WORK/emulator.log" 2>&1 &
  EMULATOR_PID=$!
  for _ in $(seq 1 100); do
    if "$PY" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)" \
      "http://127.0.0.1:$PORT/_emulator/health" 2>/dev/null; then
      break
    fi
    kill -0 "$EMULATOR_PID" 2>/dev/null || { cat "$WORK/emulator.log"; echo "The emulator did not start." >&2; exit 1; }
    sleep 0.1
  done
  # The connection, as a deployment would define it: JSON in AIRFLOW_CONN_MODELRED_DEFAULT.
  export AIRFLOW_CONN_MODELRED_DEFAULT="{\"conn_type\": \"modelred\", \"host\": \"http://127.0.0.1:$PORT\", \"password\": \"$DEMO_KEY\"}"
  export MODELRED_POLL_INTERVAL="${MODELRED_POLL_INTERVAL:-2}"
  echo "Connection modelred_default -> http://127.0.0.1:$PORT (API key in the password field)"
fi

say "Creating the Airflow metadata database"
"$AIRFLOW" db migrate >"$WORK/db-migrate.log" 2>&1 || { tail -30 "$WORK/db-migrate.log"; exit 1; }

MODEL="${MODELRED_DEMO_MODEL:-gpt-4o-prod}"
LOG="$WORK/dags-test.log"
say "Running the release gate (train -> assess with a quality gate -> deploy) for model $MODEL"
echo "(airflow dags test: the assessment task defers, the trigger runs inline, then the task resumes)"
set +e
"$AIRFLOW" dags test modelred_release_gate -c "{\"model\": \"$MODEL\"}" 2>&1 | tee "$LOG" | "$PY" "$REPO/scripts/demo_story.py"
RUN_STATUS=${PIPESTATUS[0]}
set -e

say "Summary"
"$PY" "$REPO/scripts/demo_summary.py" modelred_release_gate
END=$(date +%s)
echo
echo "Full Airflow log: $LOG (kept only with MODELRED_DEMO_KEEP=1)"
echo "Demo finished in $((END - START)) s."
if [ "$RUN_STATUS" != "0" ]; then
  echo "The DAG run failed (exit $RUN_STATUS): see the gate's verdict above." >&2
  exit "$RUN_STATUS"
fi
