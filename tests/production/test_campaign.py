"""The provider where users run it: Postgres, CeleryExecutor with two workers, two triggerers, and a
ModelRed that fails a quarter of all requests, while a triggerer, a worker and the scheduler are killed.

One run of 60 deferrable assessments, mapped over 60 distinct models whose outcomes the emulator's
scenario fixes (pass, gate fail, FAILED, stuck). The verdict: every task in its expected terminal state
(a gate failure and a FAILED assessment are final, not retried), exactly one creation per model,
no trigger or unfinished task left, the API key in no log file and no row of the metadata DB. Then the
shared streams with two triggerers: list requests per poll interval scale with the triggerers holding
triggers, not with the assessments. One summary line reports the figures (see docs/deployment.md).
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter, defaultdict
from typing import Any

import pytest
import requests

from tests.e2e.harness import AirflowStack, EmulatorProcess, descendants, wait_until

from .services import PostgresServer
from .support import CAMPAIGN_API_KEY, FAIL_ERROR, STREAM_MODELS, campaign_models, scenario

DAG = "modelred_campaign"
STREAM_DAG = "modelred_stream"
RETRIES = 2
TRIGGERER_THRESHOLD = 10


def _rows(pg: PostgresServer, sql: str) -> list[list[str]]:
    return [line.split("|") for line in pg.psql(sql).splitlines() if line]


def _running_triggerer_jobs(pg: PostgresServer) -> dict[int, float]:
    """{job id: seconds since its last heartbeat} of the triggerer jobs not ended."""
    rows = _rows(
        pg,
        "select id, extract(epoch from now() - latest_heartbeat) from job "
        "where job_type = 'TriggererJob' and state = 'running' and end_date is null",
    )
    return {int(i): float(age) for i, age in rows}


def _job_silence(pg: PostgresServer, job_id: int) -> float:
    """Seconds since the job's last heartbeat."""
    ((age,),) = _rows(pg, f"select extract(epoch from now() - latest_heartbeat) from job where id = {job_id}")
    return float(age)


def _trigger_assignments(pg: PostgresServer) -> dict[int, int | None]:
    return {int(t): (int(j) if j else None) for t, j in _rows(pg, "select id, triggerer_id from trigger")}


def _task_instances(pg: PostgresServer, dag_id: str) -> list[dict[str, Any]]:
    rows = _rows(
        pg,
        "select map_index, state, try_number, coalesce(pid, 0) from task_instance "
        f"where dag_id = '{dag_id}' order by map_index",
    )
    return [{"map_index": int(m), "state": s, "try_number": int(t), "pid": int(p)} for m, s, t, p in rows]


def _fresh_triggerer_job(pg: PostgresServer, known: set[int], timeout: float = 180) -> int:
    def new_job() -> int | None:
        fresh = [j for j, age in _running_triggerer_jobs(pg).items() if j not in known and age < 5]
        return fresh[0] if len(fresh) == 1 else None

    return int(wait_until("a new triggerer job heartbeating", new_job, timeout=timeout, interval=1))


def _map_triggerers(stack: AirflowStack, pg: PostgresServer) -> dict[str, int]:
    """Which triggerer job is which process: stop triggerer-2, read the one left, start it again."""
    stack.components["triggerer-2"].stop()
    wait_until(
        "one triggerer job left running",
        lambda: len(_running_triggerer_jobs(pg)) == 1,
        timeout=60,
        interval=1,
    )
    (first,) = _running_triggerer_jobs(pg)
    stack.restart_component("triggerer-2")
    second = _fresh_triggerer_job(pg, {first})
    return {"triggerer-1": first, "triggerer-2": second}


def _log_files(stack: AirflowStack, dag_id: str, map_index: int) -> dict[int, str]:
    """{try number: task log text} of one mapped task (local files: every component shares the home)."""
    out = {}
    pattern = f"dag_id={dag_id}/run_id=*/task_id=assess/map_index={map_index}/*"
    for path in (stack.home / "logs").glob(pattern):
        match = re.fullmatch(r"attempt=(\d+)\.log", path.name)  # not attempt=N.log.trigger.M.log
        if match:
            out[int(match.group(1))] = path.read_text(errors="replace")
    return out


def _assessments_by_model(emulator: EmulatorProcess) -> dict[str, list[dict[str, Any]]]:
    """Every assessment the emulator created, grouped by model slug, oldest first (read with chaos off)."""
    headers = {"Authorization": f"Bearer {CAMPAIGN_API_KEY}"}
    models = requests.get(
        f"{emulator.url}/api/models", params={"pageSize": 100, "page": 1}, headers=headers, timeout=30
    )
    models.raise_for_status()
    slugs: dict[str, str] = {}
    page = 1
    while True:
        body = requests.get(
            f"{emulator.url}/api/models", params={"pageSize": 100, "page": page}, headers=headers, timeout=30
        ).json()
        for m in body["data"]:
            slugs[m["id"]] = m["modelId"]
        if page >= int(body.get("pagination", {}).get("totalPages", 1)):
            break
        page += 1
    listed = requests.get(f"{emulator.url}/api/assessments", headers=headers, timeout=60)
    listed.raise_for_status()
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for a in reversed(listed.json()["data"]):  # newest first -> oldest first
        grouped[slugs.get(a["modelId"], a["modelId"])].append(a)
    return grouped


def _duplicates(assessments: list[dict[str, Any]]) -> int:
    """Creations beyond the one per model: no outcome launches a second (a retry reattaches to a
    running one, takes a completed one, and a FAILED one is final)."""
    return max(0, len(assessments) - 1)


def _wait_run_done(pg: PostgresServer, dag_id: str, timeout: float, stack: AirflowStack) -> str:
    return wait_until(
        f"the {dag_id} run to finish",
        lambda: (
            (r := _rows(pg, f"select state from dag_run where dag_id = '{dag_id}'"))
            and r[0][0] in ("success", "failed")
            and r[0][0]
        ),
        timeout=timeout,
        interval=3,
        diagnostics=stack.diagnostics,
    )


@pytest.mark.timeout(1800)  # the stack's start (~2 min) and the campaign (~10 min) on 2 loaded cores
def test_campaign(
    celery_stack: AirflowStack, campaign_emulator: EmulatorProcess, postgres: PostgresServer
) -> None:
    stack, emu, pg = celery_stack, campaign_emulator, postgres
    models = campaign_models()
    slugs = list(models)
    jobs = _map_triggerers(stack, pg)
    stack.wait_for_dag(DAG, timeout=180)
    stack.wait_for_dag(STREAM_DAG, timeout=180)
    emu.reset_counts()

    started = time.monotonic()
    stack.trigger(DAG)
    events: list[str] = []

    # 1. A triggerer dies mid-wait: its triggers move to the other once its heartbeat is 10 s old.
    names = {job: name for name, job in jobs.items()}

    def busiest_triggerer() -> tuple[str, dict[int, int | None]] | None:
        assigned = _trigger_assignments(pg)
        held = Counter(j for j in assigned.values() if j in names)
        if len(assigned) < 15 or not held:
            return None
        job, count = held.most_common(1)[0]
        return (names[job], assigned) if count >= 5 else None

    victim, before = wait_until(
        "15+ triggers, 5+ of them on one triggerer",
        busiest_triggerer,
        timeout=360,
        interval=1,
        diagnostics=stack.diagnostics,
    )
    survivor = next(n for n in jobs if n != victim)
    orphans = {t for t, j in before.items() if j == jobs[victim]}
    stack.components[victim].sigkill()
    killed_at = time.monotonic()
    events.append(f"SIGKILL {victim} holding {len(orphans)}/{len(before)} triggers")

    def moved() -> bool:
        now = _trigger_assignments(pg)
        return all(now.get(t, jobs[survivor]) == jobs[survivor] for t in orphans)

    wait_until(
        f"the killed triggerer's {len(orphans)} triggers to move to {survivor}",
        moved,
        timeout=TRIGGERER_THRESHOLD + 90,
        interval=1,
        diagnostics=stack.diagnostics,
    )
    takeover = time.monotonic() - killed_at
    silent = _job_silence(pg, jobs[victim])
    events.append(
        f"its triggers taken over {takeover:.0f} s after the kill, its heartbeat {silent:.0f} s old"
    )
    assert silent >= TRIGGERER_THRESHOLD - 1, "triggers moved before the health-check threshold"
    stack.restart_component(victim)
    jobs[victim] = _fresh_triggerer_job(pg, set(jobs.values()))

    # 2. A Celery worker dies while it runs a task (the task process with it, as when a machine dies).
    def worker_running_a_task() -> tuple[str, int] | None:
        running = [t for t in _task_instances(pg, DAG) if t["state"] == "running" and t["pid"]]
        for name in ("celery-worker-1", "celery-worker-2"):
            family = set(descendants(stack.components[name].pid))
            for ti in running:
                if ti["pid"] in family:
                    return name, ti["map_index"]
        return None

    worker, map_index = wait_until(
        "a Celery worker running a campaign task", worker_running_a_task, timeout=300, interval=0.2
    )
    stack.components[worker].sigkill(tree=True)
    events.append(f"SIGKILL {worker} (and its task processes) running map_index {map_index}")
    stack.restart_component(worker)
    stack.wait_worker_ready(worker, timeout=180)

    # 3. The scheduler dies once.
    stack.components["scheduler"].sigkill()
    events.append("SIGKILL scheduler")
    stack.restart_component("scheduler")
    stack.wait_healthy(timeout=180, components=("scheduler",))

    run_state = _wait_run_done(pg, DAG, timeout=900, stack=stack)
    took = time.monotonic() - started
    counts = emu.counts()
    chaos_faults = {k.removeprefix("chaos "): v for k, v in counts.items() if k.startswith("chaos ")}
    api_requests = sum(v for k, v in counts.items() if k.startswith(("GET ", "POST ", "PATCH ")))

    # Chaos off: the verdict reads the emulator without faults, and the stream phase measures cleanly.
    requests.put(f"{emu.url}/_emulator/scenario", json=scenario(None), timeout=30).raise_for_status()

    # --- verdict --------------------------------------------------------------------------------
    tis = {t["map_index"]: t for t in _task_instances(pg, DAG)}
    assert sorted(tis) == list(range(len(slugs))), f"expected {len(slugs)} mapped tasks, got {sorted(tis)}"
    problems: list[str] = []
    for index, slug in enumerate(slugs):
        outcome, ti = models[slug], tis[index]
        logs = _log_files(stack, DAG, index)
        # The last try that ran: a try the scheduler reset before it ran (its own death, or a lost
        # Celery message) counts in try_number but writes no log.
        ran = max(logs, default=0)
        last = logs.get(ran, "")
        want = "success" if outcome == "pass" else "failed"
        if ti["state"] != want:
            problems.append(f"{slug} ({outcome}) ended {ti['state']} after {ti['try_number']} tries")
            continue
        if outcome == "low_score":
            gate_tries = [n for n, text in logs.items() if "ModelRedQualityGateError" in text]
            if gate_tries != [ran]:
                problems.append(f"{slug}: gate failure in tries {gate_tries}, tries run {sorted(logs)}")
        elif outcome == "fail":
            failed_tries = [n for n, text in logs.items() if "ModelRedAssessmentFailedError" in text]
            if failed_tries != [ran] or FAIL_ERROR not in last:
                problems.append(
                    f"{slug}: FAILED in tries {failed_tries} of {sorted(logs)}, the server's reason "
                    f"{'in' if FAIL_ERROR in last else 'not in'} the last one's log"
                )
        elif outcome == "stuck" and "ModelRedAssessmentTimeoutError" not in last:
            problems.append(f"{slug}: try {ran} of {sorted(logs)} did not fail on the timeout")

    grouped = _assessments_by_model(emu)
    creations = sum(len(grouped.get(s, [])) for s in slugs)
    duplicates = {s: _duplicates(grouped.get(s, [])) for s in slugs}
    duplicates = {s: n for s, n in duplicates.items() if n}
    lost = [s for s in slugs if not grouped.get(s)]
    strangers = sorted(set(grouped) - set(slugs) - set(STREAM_MODELS))
    left_triggers = len(_trigger_assignments(pg))
    unfinished = _rows(
        pg, "select dag_id, map_index, state from task_instance where state in "
        "('running', 'deferred', 'queued', 'scheduled', 'up_for_retry', 'restarting')",
    )  # fmt: skip

    # --- the stream phase: two triggerers, one connection, 20 long waits ---------------------------
    stream = _stream_phase(stack, emu, pg, jobs)

    # --- no key anywhere ------------------------------------------------------------------------
    # Everything the deployment wrote (the emulator's own log is not the deployment's: it has the key
    # on its command line).
    files = [p for p in stack.home.rglob("*") if p.is_file()]
    key = CAMPAIGN_API_KEY.encode()
    leaks = [str(p) for p in files if key in p.read_bytes()]
    dump = pg.dump()
    leaks += [f"pg_dump line: {line[:120]}" for line in dump.splitlines() if CAMPAIGN_API_KEY in line]
    task_logs = [p for p in files if "dag_id=" in str(p)]

    outcomes = Counter(models.values())
    summary = (
        f"campaign: {len(slugs)} tasks ({outcomes['pass']} pass, {outcomes['low_score']} gate fail, "
        f"{outcomes['fail']} FAILED, {outcomes['stuck']} stuck), run {run_state}, "
        f"{creations} creations/{len(slugs)} models, {sum(duplicates.values())} duplicates, "
        f"{len(lost)} lost, {len(problems)} wrong states, triggers left {left_triggers}, "
        f"unfinished {len(unfinished)}, key leaks {len(leaks)} ({len(files)} files + pg_dump "
        f"{len(dump) // 1024} KiB), {api_requests} API requests with {sum(chaos_faults.values())} "
        f"chaos faults {dict(sorted(chaos_faults.items()))}, triggerer takeover {takeover:.0f} s "
        f"(heartbeat {silent:.0f} s old), "
        f"stream lists/interval {stream['per_interval']:.2f} for {stream['triggers']} triggers on "
        f"{stream['holders']} triggerers (own GETs {stream['own_gets']}), {took:.0f} s"
    )
    print("\n" + summary + "\nevents: " + "; ".join(events))
    (stack.home.parent / "modelred-campaign-summary.txt").write_text(summary + "\n")

    assert task_logs, "expected task logs"
    assert not problems, "tasks not in their expected terminal state:\n" + "\n".join(problems)
    assert not lost, f"models with no assessment created: {lost}"
    assert not duplicates, "duplicate creations (model: extra): " + json.dumps(
        {s: [(a["id"], a["status"], a["createdAt"]) for a in grouped[s]] for s in duplicates}, indent=1
    )
    assert not strangers, f"assessments of models nobody asked for: {strangers}"
    assert left_triggers == 0, "triggers left in the trigger table"
    assert not unfinished, f"task instances left unfinished: {unfinished}"
    assert not leaks, f"the API key appears in: {leaks}"
    assert sum(chaos_faults.values()) >= 0.15 * api_requests, (chaos_faults, api_requests)


def _stream_phase(
    stack: AirflowStack, emu: EmulatorProcess, pg: PostgresServer, jobs: dict[str, int]
) -> dict[str, Any]:
    """20 long waits on two triggerers: GET /api/assessments lists per 2 s interval ~ triggerers that
    hold triggers (each groups only its own), not ~ assessments; then complete them all."""
    stack.trigger(STREAM_DAG)
    n = len(STREAM_MODELS)

    def all_deferred() -> bool:
        tis = _task_instances(pg, STREAM_DAG)
        deferred = len(tis) == n and all(t["state"] == "deferred" for t in tis)
        return deferred and len(_trigger_assignments(pg)) == n

    wait_until(
        f"{n} stream tasks deferred", all_deferred, timeout=300, interval=1, diagnostics=stack.diagnostics
    )
    # Let both triggerers pick up what they hold, then measure a window.
    time.sleep(6)
    assigned = _trigger_assignments(pg)
    holders = Counter(j for j in assigned.values() if j is not None)
    emu.reset_counts()
    window = 20.0
    time.sleep(window)
    counts = emu.counts()
    lists = counts.get("GET /api/assessments", 0)
    own_gets = counts.get("GET /api/assessments/{id}", 0)
    per_interval = lists / (window / 2)
    result = {
        "per_interval": per_interval,
        "holders": len(holders),
        "triggers": n,
        "own_gets": own_gets,
        "split": dict(holders),
    }
    assert set(holders) <= set(jobs.values()), (holders, jobs)
    # One list per interval per triggerer holding triggers (timer jitter: +-1 list per triggerer);
    # one GET per assessment per interval would be 20 per interval.
    assert len(holders) - 0.6 <= per_interval <= len(holders) + 0.6, result
    assert own_gets <= 2, result

    created = {a["id"]: a for a in _stream_assessments(emu)}
    for aid in created:
        emu.control(aid, "complete")
    assert _wait_run_done(pg, STREAM_DAG, timeout=300, stack=stack) == "success"
    return result


def _stream_assessments(emu: EmulatorProcess) -> list[dict[str, Any]]:
    grouped = _assessments_by_model(emu)
    return [a for slug in STREAM_MODELS for a in grouped.get(slug, [])]
