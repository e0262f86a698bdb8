#!/usr/bin/env bash
# Runs the benchmarks, one part at a time; each starts and stops everything it needs (emulator, trigger
# processes, Airflow) and writes its figures to bench/results/<part>.json (committed; bulky logs go to
# artifacts/bench/). Each part is meant to take under 10 minutes on 2 cores; run.sh prints how long
# each took and the total. Never part of the test suite.
#
#   bash bench/run.sh                       every part below, in this order
#   bash bench/run.sh PART [PART ...]       only those parts
#   bash bench/run.sh real-triggerer [args] bench/real_triggerer.py with your own arguments (--help)
#   bash bench/run.sh list                  the parts' names
#
# Parts (BENCHMARKS.md's sections; .venv/bin/python bench/report.py prints its tables from the JSON):
#   real-triggerer-mix     a real `airflow triggerer`, 1,000 waiting, realistic mix: ours (resources, v2), the peer
#   real-triggerer-others  the same: ours best case, ours standalone, dbt Cloud's trigger
#   real-triggerer-two     ours in the mix with two `airflow triggerer` processes on one metadata DB
#   real-triggerer-latency 500 waiting ending over 60 s: detection vs Airflow's event write, ours and the peer
#   real-triggerer-10k-ours / -10k-peer / -10k-floor   10,000 waiting in one triggerer (each stops in 10 min)
#   dag-parse, dag-parse-preimport           per-file parse durations in a real dag-processor
#   airflow                                  end-to-end: worker time, latency, requests (real deployment)
#   imports, triggerer, triggerer-lockstep, loop-stalls, ui-history   the older benches
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=.venv/bin/python
RT=(bench/real_triggerer.py)
ALL=(real-triggerer-mix real-triggerer-others real-triggerer-two real-triggerer-latency
  real-triggerer-10k-ours real-triggerer-10k-peer real-triggerer-10k-floor
  dag-parse dag-parse-preimport airflow imports triggerer triggerer-lockstep loop-stalls ui-history)

run_part() {
  case "$1" in
    real-triggerer-mix)
      $PY "${RT[@]}" --runs modelred:mix,modelred_v2:mix,http_sensor:mix --name real-triggerer-mix ;;
    real-triggerer-others)
      $PY "${RT[@]}" --runs modelred:best,modelred_standalone:mix,dbt_cloud:mix,http_sensor:mix,sleeper:best \
        --name real-triggerer-others ;;
    real-triggerer-two)
      $PY "${RT[@]}" --runs modelred:mix:2,modelred_v2:mix:2 --name real-triggerer-two ;;
    real-triggerer-latency)
      $PY "${RT[@]}" --n 500 --window 15 --complete-over 60 --runs modelred:mix,http_sensor:mix \
        --name real-triggerer-latency ;;
    real-triggerer-10k-ours)
      $PY "${RT[@]}" --n 10000 --window 20 --start-timeout 240 --event-timeout 240 --runs modelred:mix --name real-triggerer-10k-ours ;;
    real-triggerer-10k-peer)
      $PY "${RT[@]}" --n 10000 --window 20 --start-timeout 240 --event-timeout 240 --runs http_sensor:mix --name real-triggerer-10k-peer ;;
    real-triggerer-10k-floor)
      $PY "${RT[@]}" --n 10000 --window 20 --start-timeout 240 --event-timeout 240 --runs floor:best --name real-triggerer-10k-floor ;;
    dag-parse) $PY bench/dag_parse.py ;;
    dag-parse-preimport) $PY bench/dag_parse.py --pre-import-ours ;;
    airflow) $PY bench/airflow_run.py ;;
    imports) $PY bench/imports.py ;;
    triggerer) $PY bench/triggerer.py ;;
    triggerer-lockstep) $PY bench/triggerer.py --no-stagger --kinds idle,modelred,modelred_standalone,http_sensor ;;
    loop-stalls) $PY bench/loop_stalls.py ;;
    ui-history) $PY bench/ui_history.py ;;
    *) echo "unknown part $1; parts: ${ALL[*]}" >&2; return 2 ;;
  esac
}

if [ "${1:-}" = list ]; then printf '%s\n' "${ALL[@]}"; exit 0; fi
bash scripts/bootstrap.sh   # idempotent: uv, .venv, the provider with Airflow and the test tools
python3 -m uv pip install --quiet --python "$PY" -e '.[test,bench]'
if [ "${1:-}" = real-triggerer ]; then shift; exec $PY "${RT[@]}" "$@"; fi
parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=("${ALL[@]}")
summary=() failed=0 t_all=$SECONDS
for part in "${parts[@]}"; do
  echo "=== $part ($(date -u +%H:%M:%S) UTC)"
  t0=$SECONDS status=ok
  run_part "$part" || { status="failed ($?)"; failed=1; }
  summary+=("$(printf '%-26s %4d s  %s' "$part" $((SECONDS - t0)) "$status")")
  echo "=== $part: $((SECONDS - t0)) s, $status"
done
echo
printf '%s\n' "${summary[@]}"
echo "total: $((SECONDS - t_all)) s"
exit $failed
