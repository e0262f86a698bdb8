"""Prints the Markdown tables of BENCHMARKS.md from the latest artifacts/bench/*.json.

python bench/report.py > /tmp/tables.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ART = Path(__file__).resolve().parent.parent / "artifacts" / "bench"


def load(name: str) -> dict[str, Any] | None:
    path = ART / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def machine_line(m: dict[str, Any]) -> str:
    return (
        f"{m['nproc']} CPU ({m['cpu']}), {m['ram_gib']} GiB RAM, load average {m['loadavg']} at start, "
        f"Python {m['python']}, {m['utc']}"
    )


def triggerer(name: str) -> None:
    data = load(name)
    if not data:
        return
    a, res = data["args"], data["results"]
    print(f"### {name}: N={a['n']}, poll {a['poll']:g} s, window {a['window']:g} s, staggered={a['stagger']}")
    print(f"Machine: {machine_line(data['machine'])}\n")
    peer = res.get("http_sensor", {}).get("cpu_s_per_1000_checks_net")
    print(
        "| contender | CPU s / 1000 checks (net of idle) | vs peer | HTTP requests in window | "
        "KiB / waiting trigger | TCP opened (whole run) | TCP opened in window | server accepted in window "
        "| loop lag max ms | events ok |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    idle = res.get("idle", {}).get("cpu_window_s", 0.0)
    order = ["idle", "modelred", "http_sensor", "http_event", "floor"]
    for kind, r in sorted(res.items(), key=lambda kv: [*order, kv[0]].index(kv[0])):
        if kind == "idle":
            print(
                f"| harness alone (idle) | {idle:.3f} s CPU in window | | | | {r['tcp_opened_total']} | "
                f"{r['tcp_opened_in_window']} | | {r['loop_lag_max_ms']} | |"
            )
            continue
        checks = r.get("checks_in_window") or 0
        per = (r["cpu_window_s"] - idle) / checks * 1000 if checks else float("nan")
        ratio = f"{per / peer:.2f}" if peer else ""
        print(
            f"| {kind} | {per:.3f} | {ratio} | {r['polls_in_window']} | {r['rss_per_trigger_kib']:.1f} | "
            f"{r['tcp_opened_total']} | {r['tcp_opened_in_window']} | "
            f"{r.get('server_tcp_accepted_in_window')} | "
            f"{r['loop_lag_max_ms']} | {r['events_ok']}/{r['n']} |"
        )
    print()


def imports() -> None:
    data = load("imports")
    if not data:
        return
    print(f"### imports: median of {data['runs']} fresh interpreters each")
    print(f"Machine: {machine_line(data['machine'])}\n")
    print("| module(s) | extra ms over airflow.sdk (median) | min | max | new modules | heavy imports |")
    print("|---|---|---|---|---|---|")
    for name, r in data["results"].items():
        heavy = ", ".join(r["heavy"]) or "none"
        print(
            f"| {name} | {r['extra_ms_median']} | {r['extra_ms_min']} | {r['extra_ms_max']} | "
            f"{r['new_modules']} | {heavy} |"
        )
    print(f"\nours / dbt Cloud = {data['ratio_ours_to_dbt']:.3f}\n")


def airflow_run() -> None:
    data = load("airflow_run")
    if not data:
        return
    a = data["args"]
    print(f"### airflow_run: assessment {a['assessment_seconds']:g} s, poll {a['poll']:g} s")
    print(f"Machine: {machine_line(data['machine'])}\n")
    print("| mode | final | worker-held s | + queued s | deferred s | requests | server TCP accepted |")
    print("|---|---|---|---|---|---|---|")
    for dag_id in ("modelred_bench_deferrable", "modelred_bench_blocking"):
        r = data.get(dag_id)
        if r:
            print(
                f"| {dag_id} | {r['final_state']} | {r['worker_held_s']} | {r['worker_held_upper_s']} | "
                f"{r['seconds_in_state'].get('deferred', 0)} | {r['requests']} | "
                f"{r.get('server_tcp_accepted')} |"
            )
    lat = data.get("latency")
    if lat:
        print(
            f"\nLatency over {lat['runs']} runs: {lat['latency_s']} s; median {lat['median_s']}, "
            f"p95 {lat['p95_s']}, max {lat['max_s']} (target {lat['target_s']}); trigger detection "
            f"{lat['trigger_detect_s']} (p95 {lat['trigger_detect_p95_s']}); Airflow resume "
            f"{lat['airflow_resume_s']} (median {lat['airflow_resume_median_s']})"
        )
    print()


def real_triggerer(name: str) -> None:
    """bench/real_triggerer.py: a real ``airflow triggerer``, events written to the metadata database."""
    data = load(name)
    if not data:
        return
    a = data["args"]
    print(
        f"### {name}: N={a['n']} waiting, poll {a['poll']:g} s, window {a['window']:g} s, all N ended over "
        f"{a['complete_over']:g} s; commit {data['commit']}, {data['seconds']:.0f} s in all"
    )
    print(f"Machine: {machine_line(data['machine'])}; load at end {data['load_at_end']}\n")
    print(
        "| contender | workload | requests / interval | checks made / due in window | CPU ms / check made "
        "(net of idle triggerer) | vs peer | KiB / trigger | loop lag p50 / p99 / max ms | events written "
        "| detection p50 / p95 s (within poll+1 s) | event written p50 / p95 s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in data["results"]:
        if "error" in r:
            print(f"| {r['kind']} | {r['workload']} | not measured: {r['error'][:120]} |||||||||")
            continue
        lag, det, lat = r["loop_lag_ms"], r["detection_s"], r["latency_s"]
        print(
            f"| {r['kind']} | {r['workload']} | {r['requests_per_interval']} | "
            f"{r['checks_made_in_window']} / "
            f"{r['checks_due_in_window']} | {r['cpu_ms_per_check_made_net']} | {r.get('cpu_vs_peer')} | "
            f"{r['rss_per_trigger_kib']} | {lag['p50']} / {lag['p99']} / {lag['max']} | "
            f"{r['events_written']}/{r['n']} ({r['events_carrying_assessment']} carry it) | "
            f"{det['p50']} / {det['p95']} ({det['within_poll_plus_1s']}/{det['n']}) | "
            f"{lat['p50']} / {lat['p95']} |"
        )
    print()


def dag_parse(name: str) -> None:
    data = load(name)
    if not data:
        return
    pre = data["args"]["pre_import_ours"]
    print(f"### {name}: per-parse duration in a real dag-processor (pre-import ours: {pre})")
    print(f"Machine: {machine_line(data['machine'])}; load at end {data['load_at_end']}\n")
    print("| DAG file | parses | median ms | p95 ms | extra over BaseOperator ms |")
    print("|---|---|---|---|---|")
    for r in data["results"].values():
        print(
            f"| {r['what']} | {r['parses']} | {r['median_ms']} | {r['p95_ms']} | {r['extra_over_base_ms']} |"
        )
    print()


if __name__ == "__main__":
    real_triggerer("real-triggerer-1000")
    real_triggerer("real-triggerer-10000")
    dag_parse("dag-parse")
    dag_parse("dag-parse-preimport")
    imports()
    triggerer("triggerer")
    triggerer("triggerer-lockstep")
    airflow_run()
    sys.exit(0)
