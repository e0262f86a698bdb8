"""Worker time, detection latency and requests per assessment, in a real Airflow run.

Reuses the end-to-end harness (tests/e2e/harness.py): the emulator CLI, then ``airflow db migrate``,
api-server, scheduler, dag-processor and triggerer, each in its own process group, LocalExecutor on
SQLite; everything is stopped by group at the end, also on failure. The DAGs are bench/dags/.

1. Worker time: one assessment of ``--assessment-seconds`` (default 120) deferrable, then the same
   holding the worker. The task instance's state is sampled through the REST API every 0.2 s;
   worker-held seconds are the time spent ``running`` (sampling error about +-0.2 s per transition).
2. Requests per assessment lifetime: the emulator's per-route counters around each of those runs.
3. Detection latency: ``--latency-runs`` deferrable runs at once; once all are deferred, each assessment is
   marked complete through the emulator's control API at staggered moments (spread over the poll phase);
   latency = the task instance's ``end_date`` - the moment it was marked complete.

    python bench/airflow_run.py [--assessment-seconds 120] [--poll 5] [--latency-runs 8]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _common import BENCH_API_KEY, REPO, median, percentile, print_machine, save

from tests.e2e.harness import AirflowStack, EmulatorProcess

DEFERRABLE, BLOCKING = "modelred_bench_deferrable", "modelred_bench_blocking"
#: Seconds between the last deferral and the first completion in the latency phase (see latency()).
SETTLE = 15.0
TERMINAL = {"success", "failed", "upstream_failed", "skipped", "removed"}


def ts(value: str | None) -> float | None:
    return None if not value else datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def sample_states(stack: AirflowStack, dag_id: str, run_id: str, timeout: float) -> dict[str, Any]:
    """Sample the task instance's state every 0.2 s until it is terminal; seconds spent in each state."""
    spent: dict[str, float] = {}
    transitions: list[tuple[float, str]] = []
    prev_t, prev_state = time.time(), None
    deadline = time.monotonic() + timeout
    ti: dict[str, Any] = {}
    while time.monotonic() < deadline:
        ti = stack.task_instance(dag_id, run_id, "assess")
        now, state = time.time(), ti.get("state") or "none"
        if prev_state is not None:
            spent[prev_state] = spent.get(prev_state, 0.0) + (now - prev_t)
        if state != prev_state:
            transitions.append((now, state))
        prev_t, prev_state = now, state
        if state in TERMINAL:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"{dag_id} run {run_id} not finished within {timeout} s\n{stack.diagnostics()}")
    return {
        "final_state": prev_state,
        "seconds_in_state": {k: round(v, 2) for k, v in spent.items()},
        "running_intervals": sum(1 for _, s in transitions if s == "running"),
        "transitions": [s for _, s in transitions],
        "ti_start_date": ti.get("start_date"),
        "ti_end_date": ti.get("end_date"),
        "ti_duration": ti.get("duration"),
    }


def worker_time(stack: AirflowStack, emu: EmulatorProcess, dag_id: str, seconds: float) -> dict[str, Any]:
    emu.reset_counts()
    t0 = time.time()
    run_id = stack.trigger(dag_id)
    result = sample_states(stack, dag_id, run_id, timeout=seconds * 3 + 180)
    result["wall_s"] = round(time.time() - t0, 1)
    counts = emu.counts()
    result["requests"] = {k: v for k, v in counts.items() if " " in k and "/_emulator" not in k}
    result["server_tcp_accepted"] = counts.get("connections")
    spent = result["seconds_in_state"]
    result["worker_held_s"] = round(spent.get("running", 0.0), 2)
    # Upper bound: also the time queued in the executor (part of it a worker starting the task process).
    result["worker_held_upper_s"] = round(spent.get("running", 0.0) + spent.get("queued", 0.0), 2)
    return result


def assessment_id_of(stack: AirflowStack, dag_id: str, run_id: str) -> str | None:
    resp = stack.api(
        "GET",
        f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/assess/xcomEntries/assessment_id",
        ok=False,
    )
    if not resp.ok:
        return None
    value = resp.json().get("value")
    return str(value).strip('"') if value else None


def latency(stack: AirflowStack, emu: EmulatorProcess, runs: int, poll: float) -> dict[str, Any]:
    run_ids = [stack.trigger(DEFERRABLE) for _ in range(runs)]
    ids: dict[str, str] = {}
    deferred_at: dict[str, float] = {}
    deadline = time.monotonic() + 180
    while len(ids) < runs:
        if time.monotonic() > deadline:
            raise AssertionError(f"not all latency runs deferred: {len(ids)}/{runs}\n{stack.diagnostics()}")
        for run_id in run_ids:
            if run_id in ids:
                continue
            if stack.task_instance(DEFERRABLE, run_id, "assess")["state"] == "deferred":
                aid = assessment_id_of(stack, DEFERRABLE, run_id)
                if aid:
                    ids[run_id] = aid
                    deferred_at[run_id] = time.time()
        time.sleep(0.5)
    # Complete no sooner than SETTLE s after the last deferral, at moments spread over the poll phase.
    # An assessment that ends within seconds of the deferral can hit Airflow's stale defer-exit race
    # (the executor's "success" for the deferring process is drained after the trigger fired and the
    # task is failed as "state changed externally": apache/airflow#66374, #67287, #72716).
    step = poll * (math.sqrt(5) - 1) / 2  # golden-ratio stagger: phases spread evenly modulo the interval
    first = max(deferred_at.values()) + SETTLE
    due = {run_id: first + i * step for i, run_id in enumerate(run_ids)}
    completed_at: dict[str, float] = {}
    left_deferred: dict[str, float] = {}
    ended: dict[str, float] = {}
    deadline = time.monotonic() + SETTLE + runs * step + poll * 4 + 180
    # One loop: complete what is due, then sample every task instance at once (one REST call) to see
    # when each left "deferred" (the trigger fired) and when it succeeded.
    while len(ended) < runs:
        if time.monotonic() > deadline:
            raise AssertionError(f"latency runs not finished: {len(ended)}/{runs}\n{stack.diagnostics()}")
        for run_id in run_ids:
            if run_id not in completed_at and time.time() >= due[run_id]:
                emu.control(ids[run_id], "complete")
                completed_at[run_id] = time.time()
        tis = stack.api(
            "GET", f"/api/v2/dags/{DEFERRABLE}/dagRuns/~/taskInstances", params={"limit": 100}
        ).json()["task_instances"]
        now = time.time()
        for ti in tis:
            run_id = ti["dag_run_id"]
            if run_id not in completed_at:
                continue
            if run_id not in left_deferred and ti["state"] != "deferred":
                left_deferred[run_id] = now
            if ti["state"] == "success" and run_id not in ended:
                end = ts(ti.get("end_date"))
                assert end is not None, f"no end_date for {run_id}: {ti}"
                ended[run_id] = end
            elif ti["state"] in TERMINAL - {"success"}:
                raise AssertionError(
                    f"latency run {run_id} ended {ti['state']}\n"
                    f"{stack.task_log(DEFERRABLE, run_id, 'assess', ti.get('try_number') or 1)}"
                )
        time.sleep(0.2)
    samples = [ended[r] - completed_at[r] for r in run_ids]
    detect = [left_deferred[r] - completed_at[r] for r in run_ids]
    resume = [ended[r] - left_deferred[r] for r in run_ids]
    return {
        "runs": runs,
        "latency_s": [round(s, 2) for s in samples],
        "median_s": round(median(samples), 2),
        "p95_s": round(percentile(samples, 95), 2),
        "max_s": round(max(samples), 2),
        "target_s": poll + 2,
        # Split (REST sampling, +-0.2 s): until the trigger fired and the task left "deferred", then
        # Airflow's resume (scheduler, executor, task process, execute_complete) until success.
        "trigger_detect_s": [round(x, 2) for x in detect],
        "trigger_detect_p95_s": round(percentile(detect, 95), 2),
        "airflow_resume_s": [round(x, 2) for x in resume],
        "airflow_resume_median_s": round(median(resume), 2),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--assessment-seconds", type=float, default=120.0)
    ap.add_argument("--poll", type=float, default=5.0, help="the operator's poll_interval (default 5 s)")
    ap.add_argument("--latency-runs", type=int, default=8)
    ap.add_argument("--skip", default="", help="comma list of phases to skip: worker,latency")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    m = print_machine()
    log_dir = REPO / "artifacts" / "bench" / "airflow_run"
    log_dir.mkdir(parents=True, exist_ok=True)
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    emu = EmulatorProcess([BENCH_API_KEY], args.assessment_seconds, log_dir, env)
    stack: AirflowStack | None = None
    out: dict[str, Any] = {"machine": m, "args": vars(args)}
    try:
        emu.start()
        connection = {"conn_type": "modelred", "host": emu.url, "password": BENCH_API_KEY}
        stack = AirflowStack(
            [REPO / "bench" / "dags"], connection, extra_env={"MODELRED_BENCH_POLL": str(args.poll)}
        )
        t = time.monotonic()
        stack.start()
        print(f"Airflow up in {time.monotonic() - t:.0f} s (home {stack.home})")
        warm_run = stack.trigger("modelred_bench_warmup")
        stack.wait_task_state("modelred_bench_warmup", warm_run, "warm", ["success"], timeout=180)
        if "worker" not in skip:
            for dag_id in (DEFERRABLE, BLOCKING):
                r = worker_time(stack, emu, dag_id, args.assessment_seconds)
                out[dag_id] = r
                print(f"{dag_id}: {r['final_state']}, worker-held {r['worker_held_s']} s, states "
                      f"{r['seconds_in_state']}, requests {r['requests']}")  # fmt: skip
        if "latency" not in skip:
            out["latency"] = latency(stack, emu, args.latency_runs, args.poll)
            print(f"latency: {out['latency']}")
    finally:
        if stack is not None:
            stack.stop()
        emu.stop()
    summarize(out, args)
    save("airflow_run", out)
    return 0


def summarize(out: dict[str, Any], args: argparse.Namespace) -> None:
    print("\nsummary")
    d, b = out.get(DEFERRABLE), out.get(BLOCKING)
    if d and b:
        held_d, held_b = d["worker_held_s"], b["worker_held_s"]
        print(f"  worker-held seconds, {args.assessment_seconds:.0f} s assessment: deferrable {held_d} s "
              f"(with queued: {d['worker_held_upper_s']} s), blocking {held_b} s "
              f"(with queued: {b['worker_held_upper_s']} s), ratio {held_d / held_b:.3f}; target < 5 s: "
              f"{'MET' if held_d < 5 and d['final_state'] == 'success' else 'MISSED'}")  # fmt: skip
        req = d["requests"]
        creates = sum(v for k, v in req.items() if k.startswith("POST ") and k.endswith("assessments"))
        gets = sum(v for k, v in req.items() if k.startswith("GET ") and k.endswith("assessments/{id}"))
        other = {
            k: v
            for k, v in req.items()
            if not (k.startswith("POST ") and k.endswith("assessments"))
            and not (k.startswith("GET ") and k.endswith("assessments/{id}"))
        }
        expected = args.assessment_seconds / args.poll
        print(f"  requests, deferrable lifetime: {creates} creation, {gets} GETs of the assessment "
              f"({args.assessment_seconds:.0f} s / poll {args.poll:.0f} s = {expected:.0f} intervals), "
              f"other {other or 'none'}")  # fmt: skip
        d["requests_summary"] = {"creates": creates, "gets": gets, "intervals": expected, "other": other}
    lat = out.get("latency")
    if lat:
        ok = lat["p95_s"] <= lat["target_s"]
        print(f"  detection latency over {lat['runs']} runs: median {lat['median_s']} s, "
              f"p95 {lat['p95_s']} s, max {lat['max_s']} s; "
              f"target p95 <= {lat['target_s']} s: {'MET' if ok else 'MISSED'}")  # fmt: skip
        print(f"    of which the trigger's detection p95 {lat['trigger_detect_p95_s']} s "
              f"(poll {args.poll:g} s), "
              f"Airflow's resume median {lat['airflow_resume_median_s']} s")  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
