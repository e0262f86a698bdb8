#!/usr/bin/env bash
# Runs the benchmarks; each starts and stops everything it needs (emulator, trigger processes, Airflow).
#   bash bench/run.sh                 all of them, in the order of BENCHMARKS.md
#   bash bench/run.sh imports [args]  DAG-parse cost        (bench/imports.py --help)
#   bash bench/run.sh triggerer [args] triggerer cost       (bench/triggerer.py --help)
#   bash bench/run.sh airflow [args]  worker time, latency, requests per assessment (bench/airflow_run.py --help)
#   bash bench/run.sh real-triggerer [args]  a real `airflow triggerer`, 1,000 waiting (bench/real_triggerer.py --help)
#   bash bench/run.sh real-triggerer-10k     the same at 10,000 waiting (ours in the realistic mix, and the peer)
#   bash bench/run.sh dag-parse [args]       per-file parse durations in a real dag-processor (bench/dag_parse.py)
# Figures are printed and written to artifacts/bench/*.json. Never part of the test suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh   # idempotent: uv, .venv, the provider with Airflow and the test tools
python3 -m uv pip install --quiet --python .venv/bin/python -e '.[test,bench]'
name="${1:-all}"
[ $# -gt 0 ] && shift
case "$name" in
  imports) exec .venv/bin/python bench/imports.py "$@" ;;
  triggerer) exec .venv/bin/python bench/triggerer.py "$@" ;;
  airflow) exec .venv/bin/python bench/airflow_run.py "$@" ;;
  real-triggerer) exec .venv/bin/python bench/real_triggerer.py "$@" ;;
  real-triggerer-10k)
    exec .venv/bin/python bench/real_triggerer.py --n 10000 --window 20 \
      --runs modelred:mix,modelred_v2:mix,http_sensor:mix "$@" ;;
  dag-parse) exec .venv/bin/python bench/dag_parse.py "$@" ;;
  all)
    .venv/bin/python bench/real_triggerer.py
    .venv/bin/python bench/real_triggerer.py --n 10000 --window 20 --runs modelred:mix,modelred_v2:mix,http_sensor:mix
    .venv/bin/python bench/dag_parse.py
    .venv/bin/python bench/imports.py
    .venv/bin/python bench/triggerer.py
    .venv/bin/python bench/triggerer.py --no-stagger --kinds idle,modelred,modelred_standalone,http_sensor
    .venv/bin/python bench/airflow_run.py
    ;;
  *) echo "usage: bash bench/run.sh [real-triggerer|real-triggerer-10k|dag-parse|imports|triggerer|airflow|all] [args]" >&2; exit 2 ;;
esac
