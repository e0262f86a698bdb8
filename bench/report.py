"""Prints the Markdown tables of BENCHMARKS.md from the committed ``bench/results/*.json``.

Every table in BENCHMARKS.md is pasted from this script's output, so a maintainer can check each figure
against the JSON it came from (each file names its machine, its load at start and end, the commit
measured and how long the part took). A part whose JSON is missing prints "not run".

    .venv/bin/python bench/report.py > /tmp/tables.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
#: run.sh's parts of bench/real_triggerer.py, in BENCHMARKS.md's order.
REAL_TRIGGERER = [
    "real-triggerer-mix",
    "real-triggerer-others",
    "real-triggerer-two",
    "real-triggerer-latency",
    "real-triggerer-10k-ours",
    "real-triggerer-10k-peer",
    "real-triggerer-10k-floor",
]


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    if not path.exists():
        print(f"### {name}: not run (no bench/results/{name}.json)\n")
        return None
    return json.loads(path.read_text())


def columns(*names: str) -> None:
    """Print a Markdown table's header row and its separator (one ``---`` per column)."""
    print("| " + " | ".join(names) + " |")
    print("|" + "---|" * len(names))


def header(name: str, data: dict[str, Any], what: str) -> None:
    m = data["machine"]
    end = data.get("load_at_end")
    end = [round(x, 2) for x in end] if end else "?"
    seconds = data.get("seconds")
    took = f"{seconds:.0f} s" if isinstance(seconds, (int, float)) else "?"
    print(f"### {name}: {what}")
    print(
        f"`bench/results/{name}.json`: commit {data.get('commit', '?')}, {m['utc']}, took {took}; "
        f"{m['nproc']} CPU ({m['cpu']}), {m['ram_gib']} GiB RAM, Python {m['python']}; "
        f"load average {m['loadavg']} at start, {end} at end\n"
    )


def _pair(d: dict[str, Any] | None, a: str = "p50", b: str = "p95") -> str:
    if not d or d.get(a) is None:
        return "-"
    return f"{d[a]} / {d[b]}"


def _peer_cpu(data: dict[str, Any]) -> tuple[float | None, str]:
    """The peer's CPU per check from the same run, else from the part that ran it at the same N (said so)."""
    for r in data["results"]:
        if r["kind"] == "http_sensor" and r.get("cpu_ms_per_check_made_net"):
            return r["cpu_ms_per_check_made_net"], ""
    n = data["args"]["n"]
    for name in ("real-triggerer-mix", "real-triggerer-10k-peer"):  # the peer at the same N
        path = RESULTS / f"{name}.json"
        if path.exists():
            for r in json.loads(path.read_text())["results"]:
                if r["kind"] == "http_sensor" and r["n"] == n and r.get("cpu_ms_per_check_made_net"):
                    return r["cpu_ms_per_check_made_net"], f" (peer of {name})"
    return None, ""


def _cpu_per_s(r: dict[str, Any]) -> float:
    """The triggerer's CPU per second of the window, net of the idle triggerer, in ms / s."""
    if "cpu_ms_per_s_net" in r:
        return r["cpu_ms_per_s_net"]
    net = r["cpu_window_s"] - r["idle_triggerer_cpu_s_per_s"] * r["window_s"]
    return round(net / r["window_s"] * 1000, 1)


def real_triggerer(name: str) -> None:
    """bench/real_triggerer.py: a real ``airflow triggerer``, events written to the metadata database."""
    data = load(name)
    if not data:
        return
    a = data["args"]
    header(
        name,
        data,
        f"N={a['n']:,} waiting, poll {a['poll']:g} s, window {a['window']:g} s, all N ended over "
        f"{a['complete_over']:g} s",
    )
    peer, whose = _peer_cpu(data)
    columns(
        "contender",
        "workload",
        "triggerers",
        "s to start all N",
        "requests / interval",
        "checks made / due in window",
        "CPU ms / check made (net of idle)",
        "vs peer",
        "triggerer CPU ms / s (net)",
        "KiB / trigger",
        "loop lag p50 / p99 / max ms",
        "events written (carry the assessment)",
        "detection p50 / p95 s (within poll+1 s)",
        "Airflow's write p50 / p95 s",
        "event written p50 / p95 s",
    )
    for r in data["results"]:
        lead = f"| {r['kind']} | {r['workload']} | {r.get('triggerers', 1)} |"
        if "error" in r:
            print(f"{lead} not measured: {r['error'][-160:]!r} ||||||||||||")
            continue
        if "not_reached" in r:
            print(f"{lead} **{r['not_reached']}** ({r['uptake_per_s']} started / s) ||||||||||||")
            continue
        lag, det = r["loop_lag_ms"], r["detection_s"]
        cpu = r["cpu_ms_per_check_made_net"]
        ratio = f"{cpu / peer:.3f}{whose}" if cpu is not None and peer else "-"
        lists = f" ({r['lists_per_interval']} lists)" if "lists_per_interval" in r else ""
        print(
            f"{lead} {r['seconds_to_start_all']} | {r['requests_per_interval']}{lists} | "
            f"{r['checks_made_in_window']} / {r['checks_due_in_window']} | {cpu} | {ratio} | "
            f"{_cpu_per_s(r)} | "
            f"{r['rss_per_trigger_kib']} | {lag['p50']} / {lag['p99']} / {lag['max']} | "
            f"{r['events_written']}/{r['n']} ({r['events_carrying_assessment']}) | "
            f"{_pair(det)} ({det.get('within_poll_plus_1s')}/{det['n']}) | "
            f"{_pair(r.get('airflow_write_s'))} | {_pair(r['latency_s'])} |"
        )
    print()


def uptake() -> None:
    """How fast the triggerer took up the N triggers, per contender, from every real-triggerer part."""
    print("### uptake: seconds until the triggerer had started K of the N triggers (trigger log files)\n")
    columns(
        "part", "contender", "N", "started", "s to 1,000", "s to N/4", "s to N/2", "s to N", "started / s"
    )
    for name in REAL_TRIGGERER:
        path = RESULTS / f"{name}.json"
        if not path.exists():
            continue
        for r in json.loads(path.read_text())["results"]:
            if "started" not in r:
                continue
            n = r["n"]
            marks = [r.get(f"seconds_to_start_{k}") for k in (1000, n // 4, n // 2, n)]
            cells = " | ".join("-" if x is None else f"{x:g}" for x in marks)
            print(
                f"| {name} | {r['kind']}:{r['workload']} | {n:,} | {r['started']:,} | {cells} | "
                f"{r['uptake_per_s']} |"
            )
    print()


def durations() -> None:
    """How long each part took (its JSON's ``seconds``)."""
    print("### how long each part took (`bash bench/run.sh`)\n")
    columns("part", "seconds", "measured at (UTC)", "load at start / end")
    total = 0.0
    for path in sorted(RESULTS.glob("*.json")):
        data = json.loads(path.read_text())
        seconds = data.get("seconds")
        if isinstance(seconds, (int, float)):
            total += seconds
        end = [round(x, 2) for x in data.get("load_at_end") or []]
        print(
            f"| {path.stem} | {seconds} | {data['machine']['utc']} | {data['machine']['loadavg']} / {end} |"
        )
    print(f"| **all** | **{total:.0f}** | | |\n")


def dag_parse(name: str) -> None:
    data = load(name)
    if not data:
        return
    pre = data["args"]["pre_import_ours"]
    header(name, data, f"per-parse duration in a real dag-processor (our modules pre-imported: {pre})")
    columns("DAG file", "parses", "median ms", "p95 ms", "extra over BaseOperator ms")
    for r in data["results"].values():
        print(
            f"| {r['what']} | {r['parses']} | {r['median_ms']} | {r['p95_ms']} | {r['extra_over_base_ms']} |"
        )
    print()


def airflow_run() -> None:
    data = load("airflow_run")
    if not data:
        return
    a = data["args"]
    header("airflow_run", data, f"assessment {a['assessment_seconds']:g} s, poll {a['poll']:g} s")
    columns("mode", "final", "worker-held s", "+ queued s", "deferred s", "requests")
    for dag_id in ("modelred_bench_deferrable", "modelred_bench_blocking"):
        r = data.get(dag_id)
        if r:
            print(
                f"| {dag_id} | {r['final_state']} | {r['worker_held_s']} | {r['worker_held_upper_s']} | "
                f"{r['seconds_in_state'].get('deferred', 0)} | {r['requests']} |"
            )
    lat = data.get("latency")
    if lat:
        print(
            f"\nEnd-to-end latency over {lat['runs']} runs (completion to the task's end): median "
            f"{lat['median_s']} s, p95 {lat['p95_s']} s, max {lat['max_s']} s (target {lat['target_s']} s); "
            f"the trigger's detection {lat['trigger_detect_s']} (p95 {lat['trigger_detect_p95_s']} s); "
            f"Airflow's resume {lat['airflow_resume_s']} (median {lat['airflow_resume_median_s']} s)"
        )
    print()


def imports() -> None:
    data = load("imports")
    if not data:
        return
    header("imports", data, f"median of {data['runs']} fresh interpreters each")
    columns("module(s)", "extra ms over airflow.sdk (median)", "min", "max", "new modules", "heavy imports")
    for name, r in data["results"].items():
        heavy = ", ".join(r["heavy"]) or "none"
        print(
            f"| {name} | {r['extra_ms_median']} | {r['extra_ms_min']} | {r['extra_ms_max']} | "
            f"{r['new_modules']} | {heavy} |"
        )
    print(f"\nours / dbt Cloud = {data['ratio_ours_to_dbt']:.3f}\n")


def triggerer(name: str) -> None:
    data = load(name)
    if not data:
        return
    a, res = data["args"], data["results"]
    header(
        name, data, f"N={a['n']}, poll {a['poll']:g} s, window {a['window']:g} s, staggered={a['stagger']}"
    )
    peer = res.get("http_sensor", {}).get("cpu_s_per_1000_checks_net")
    columns(
        "contender",
        "CPU s / 1000 checks (net of idle)",
        "vs peer",
        "HTTP requests in window",
        "KiB / waiting trigger",
        "TCP opened (whole run)",
        "TCP opened in window",
        "server accepted in window",
        "loop lag max ms",
        "events ok",
    )
    idle = res.get("idle", {}).get("cpu_window_s", 0.0)
    order = ["idle", "modelred", "modelred_standalone", "http_sensor", "http_event", "floor"]
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


def loop_stalls() -> None:
    data = load("loop_stalls")
    if not data:
        return
    header("loop_stalls", data, f"longest event-loop stall, median of {data['args']['repeat']} runs")
    columns("case", "max loop lag ms (median)", "runs")
    for r in data["results"]:
        print(f"| {r['case']} | {r['median_ms']} | {', '.join(map(str, r['runs_ms']))} |")
    print()


def ui_history() -> None:
    data = load("ui_history")
    if not data:
        return
    r = data["results"]
    header("ui_history", data, f"{r['summaries']:,} stored summaries, {r['requests']} requests each")
    columns("page", "median s", "max s")
    print(f"| history page (`/modelred/`, {r['page_bytes']:,} bytes) | {r['history_page_median_s']:.3f} | "
          f"{r['history_page_max_s']:.3f} |")  # fmt: skip
    print(f"| a task's tab | {r['task_tab_median_s']:.3f} | {r['task_tab_max_s']:.3f} |")
    print()


if __name__ == "__main__":
    durations()
    for part in REAL_TRIGGERER:
        real_triggerer(part)
    uptake()
    dag_parse("dag-parse")
    dag_parse("dag-parse-preimport")
    airflow_run()
    imports()
    triggerer("triggerer")
    triggerer("triggerer-lockstep")
    loop_stalls()
    ui_history()
    sys.exit(0)
