"""Waiting assessments in a real ``airflow triggerer`` process, events written to the metadata database.

For each run (a contender, a workload, a number N of waiting assessments):

1. The emulator (its own process, assessments that last a day) gets N assessments to wait on; in the
   ``mix`` workload each is followed by a newer one nobody waits on (another DAG, the UI), so the
   waiting ones are never simply the newest.
2. A fresh SQLite metadata database (migrated once, copied per run) and ``airflow triggerer
   --capacity N+50`` (``[triggerer] max_trigger_to_select_per_loop`` raised so it takes them in a few
   loops), each in its own process group. A loop-lag probe trigger (``bench/_probe_trigger.py``) runs
   in it from the start; the triggerer's resident memory is read once the probe runs (the baseline).
3. N deferred task instances of ``modelred_bench_wait.wait`` and their triggers are written into the
   database, as N deferring tasks leave them; the triggerer picks them up. After every trigger made
   its first check and a ramp of 1.5 intervals, a window of W seconds is measured: the triggerer's CPU
   (supervisor and runner processes, ``user+system``), its peak RSS over the baseline per trigger, the
   probe's loop lag p50/p99/max, and the requests the emulator answered.
4. Every assessment is completed through the control API (the time of each is kept); the run ends when
   every task instance left ``deferred`` (its event written by the triggerer) or after 3 intervals +
   60 s. Latency = the task instance's ``updated_at`` (the event's write) minus its completion.

Checks made in the window: for one-GET-per-check contenders the GETs of an assessment; for ours in a
group, the rounds (resources: one list each; v2: ``ceil(unfinished/100)`` QUEUED pages + one RUNNING
page each) times the waiting triggers, plus the own GETs of the window.

    python bench/real_triggerer.py [--n 1000] [--poll 5] [--window 30] [--runs modelred:mix,...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    PYTHON,
    REPO,
    artifact_log,
    commit_id,
    conn_env_json,
    emulator_process,
    free_port,
    http_json,
    percentile,
    print_machine,
    save,
    scratch_airflow_env,
    stop_process_group,
)

AIRFLOW = str(Path(PYTHON).parent / "airflow")
MODELRED_CONN = "bench_modelred"
HTTP_CONN = "bench_http"
DBT_CONN = "bench_dbt"
DBT_ACCOUNT = 1
KINDS = {
    "modelred": "ours, grouped (shared poll), resources API",
    "modelred_v2": "ours, grouped (shared poll), v2 API",
    "modelred_standalone": "ours, [modelred] shared_stream=False: one GET per trigger",
    "http_sensor": "HttpSensorTrigger + status check (peer)",
    "dbt_cloud": "DbtCloudRunJobTrigger (dbt Cloud provider) on a loopback run-status endpoint",
    "floor": "the floor: one shared aiohttp session, GET + status (bench/_floor_trigger.py)",
    "sleeper": "does nothing: wakes once per poll, no request (what holding N triggers costs Airflow)",
}
#: The route of each contender's own per-trigger GET (its first check; one-GET designs' every check).
GET_ROUTE = {
    "modelred": "GET /api/assessments/{id}",
    "modelred_v2": "GET /api/v2/assessments/{id}",
    "modelred_standalone": "GET /api/assessments/{id}",
    "http_sensor": "GET /api/assessments/{id}",
    "floor": "GET /api/assessments/{id}",
    "dbt_cloud": "GET /api/v2/accounts/{account}/runs/{id}/",
    "sleeper": "(none)",
}
PEER = "http_sensor"
DEFAULT_RUNS = "modelred:best,modelred:mix,modelred_v2:mix,modelred_standalone:mix,http_sensor:mix"


def _request(method: str, url: str, key: str, body: Any = None, v2: bool = False) -> Any:
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", f"Bearer {key}")
    if v2:
        req.add_header("x-api-key", key)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def create_assessments(url: str, key: str, n: int, *, v2: bool, mix: bool) -> tuple[list[str], int]:
    """N assessments to wait on (each followed by a newer one nobody waits on with ``mix``); their ids
    and how many were created in all."""
    if v2:
        packs = _request("GET", f"{url}/api/v2/probes?page=1&pageSize=20", key, v2=True)["data"]
        body: dict[str, Any] = {"model": "gpt-4o-prod", "probePackIds": [packs[0]["id"]]}
        path = "/api/v2/assessments"
    else:
        probes = _request("GET", f"{url}/api/probes", key)
        data = probes.get("data", probes)
        body = {"model": "gpt-4o-prod", "testTypes": [data["probes"][0]["key"]]}
        path = "/api/assessments"
    per = 2 if mix else 1

    def one(k: int) -> str:
        answer = _request("POST", f"{url}{path}", key, body, v2=v2)
        obj = answer.get("data", answer)
        return str(obj.get("assessment_id") or obj["id"])

    ids: list[str] = []
    # In order (each waiting one older than the next unwatched one), 8 at a time.
    with ThreadPoolExecutor(8) as pool:
        for start in range(0, n * per, 400):
            ids += list(pool.map(one, range(start, min(n * per, start + 400))))
    return ids[::per], len(ids)


class DbtCloudServer:
    """``bench/_dbt_cloud_server.py`` in its own process: dbt Cloud's run-status route over TLS."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="modelred-bench-dbt-"))
        self.api_port, self.control_port = free_port(), free_port()
        self.log = open(artifact_log("dbt-cloud-server"), "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [PYTHON, str(REPO / "bench" / "_dbt_cloud_server.py"), str(self.folder), str(self.api_port),
             str(self.control_port)],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO,
        )  # fmt: skip
        self.control = f"http://127.0.0.1:{self.control_port}"
        self.cert = self.folder / "cert.pem"
        deadline = time.monotonic() + 30
        while True:
            try:
                self.counts()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the dbt Cloud stand-in did not start") from None
                time.sleep(0.2)

    def counts(self) -> dict[str, int]:
        return dict(http_json("GET", f"{self.control}/_bench/counts"))

    def create(self, n: int) -> list[str]:
        return [str(i) for i in http_json("POST", f"{self.control}/_bench/runs?n={n}", {})["ids"]]

    def complete(self, run_id: str) -> None:
        http_json("POST", f"{self.control}/_bench/runs/{run_id}/complete", {})

    def stop(self) -> None:
        stop_process_group(self.proc)
        self.log.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def trigger_spec(kind: str, assessment_id: str, poll: float, v2: bool, emu_url: str = "") -> list[Any]:
    if kind.startswith("modelred"):
        return [
            "modelred_provider.triggers.assessment.ModelRedAssessmentTrigger",
            {
                "assessment_id": assessment_id,
                "modelred_conn_id": MODELRED_CONN,
                "api_generation": "v2" if v2 else "resources",
                "poll_interval": poll,
                "deadline": None,
                "retry_budget": 8,
                "cancel_on_kill": False,
            },
        ]
    if kind == "http_sensor":
        return [
            "_peer_triggers.HttpSensorTriggerWithCheck",
            {
                "endpoint": f"api/assessments/{assessment_id}",
                "http_conn_id": HTTP_CONN,
                "method": "GET",
                "data": None,
                "headers": None,
                "extra_options": {},
                "poke_interval": poll,
            },
        ]
    if kind == "dbt_cloud":
        return [
            "airflow.providers.dbt.cloud.triggers.dbt.DbtCloudRunJobTrigger",
            {
                "run_id": int(assessment_id),
                "account_id": DBT_ACCOUNT,
                "conn_id": DBT_CONN,
                "end_time": time.time() + 86400,
                "execution_deadline": None,
                "poll_interval": poll,
                "hook_params": {},
            },
        ]
    if kind == "sleeper":
        return ["_floor_trigger.SleepTrigger", {"marker": emu_url, "poll_interval": poll}]
    if kind == "floor":
        return [
            "_floor_trigger.FloorTrigger",
            {"url": f"{emu_url}/api/assessments/{assessment_id}", "poll_interval": poll},
        ]
    raise SystemExit(f"unknown kind {kind!r}")


def run_cli(env: dict[str, str], *args: str, timeout: float = 600) -> None:
    out = subprocess.run([AIRFLOW, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"airflow {' '.join(args)} failed:\n{out.stderr[-3000:]}")


def seed(env: dict[str, str], run_id: str, task_id: str, triggers: list[list[Any]]) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump({"run_id": run_id, "task_id": task_id, "triggers": triggers}, fh)
    try:
        out = subprocess.run(
            [PYTHON, str(REPO / "bench" / "_seed_deferred.py"), fh.name],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if out.returncode != 0:
            raise RuntimeError(f"seeding failed:\n{out.stderr[-3000:]}")
    finally:
        os.unlink(fh.name)


def tree(proc: psutil.Process) -> list[psutil.Process]:
    with contextlib.suppress(psutil.Error):
        return [proc, *proc.children(recursive=True)]
    return []


def cpu_of(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def rss_of(procs: list[psutil.Process]) -> int:
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def read_lags(path: Path, since: float, until: float) -> list[float]:
    lags: list[float] = []
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if since <= row["t"] <= until:
                lags += row["lags_ms"]
    return lags


def left_deferred(db: Path, run_id: str) -> list[tuple[int, str, str | None]]:
    """(map index, updated_at, next_kwargs) of the task instances whose event was written."""
    for _ in range(20):
        try:
            with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
                return conn.execute(
                    "SELECT map_index, updated_at, next_kwargs FROM task_instance "
                    "WHERE run_id = ? AND task_id = 'wait' AND state != 'deferred'",
                    (run_id,),
                ).fetchall()
        except sqlite3.OperationalError:
            time.sleep(0.2)
    return []


_STAMP = re.compile(r"(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?)")


def fired_at(logs: Path, run_id: str) -> dict[int, float]:
    """Map index -> when its trigger fired, from the per-task trigger log files the triggerer writes."""
    fired: dict[int, float] = {}
    for path in logs.rglob("*.trigger.*"):
        text = str(path)
        if f"run_id={run_id}" not in text:
            continue
        match = re.search(r"map_index=(\d+)", text)
        if not match:
            continue
        with contextlib.suppress(OSError):
            for line in path.read_text(errors="replace").splitlines():
                if "Trigger fired event" in line:
                    stamp = _STAMP.search(line)
                    if stamp:
                        fired[int(match.group(1))] = _epoch(stamp.group(1))
                    break
    return fired


def _epoch(text: str) -> float:
    value = datetime.fromisoformat(text.replace(" ", "T"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def triggers_per_triggerer(db: Path) -> list[int]:
    """How many of the run's waiting triggers each triggerer holds (the trigger table's triggerer_id)."""
    with (
        contextlib.suppress(sqlite3.OperationalError),
        contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn,
    ):
        rows = conn.execute(
            "SELECT t.triggerer_id, COUNT(*) FROM trigger t JOIN task_instance ti ON ti.trigger_id = t.id "
            "WHERE ti.run_id = 'wait' AND t.triggerer_id IS NOT NULL GROUP BY t.triggerer_id"
        ).fetchall()
        return sorted((int(count) for _, count in rows), reverse=True)
    return []


def started_triggers(logs: Path, run_id: str) -> int:
    """How many of the run's triggers started: each trigger's log file is opened by its first line,
    the runner's "trigger ... starting" (Airflow writes it lazily, through the supervisor)."""
    folder = logs / "dag_id=modelred_bench_wait" / f"run_id={run_id}" / "task_id=wait"
    count = 0
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            with contextlib.suppress(OSError):
                count += any(".trigger." in f.name for f in os.scandir(entry.path))
    return count


def one_run(
    kind: str, workload: str, n: int, args: argparse.Namespace, emu: Any, template: Path,
    dbt: DbtCloudServer | None, triggerers: int = 1,
) -> dict:  # fmt: skip
    v2 = kind == "modelred_v2"
    mix = workload == "mix"
    label = f"{kind}:{workload}" + (f":{triggerers}" if triggerers > 1 else "")
    print(f"\n--- {KINDS[kind]}, {workload}, N={n}, {triggerers} triggerer(s)", flush=True)
    t_begin = time.monotonic()
    server: Any = dbt if kind == "dbt_cloud" else emu

    def create(count: int, with_mix: bool) -> tuple[list[str], int]:
        if kind == "sleeper":
            return ["warm"] if count == 1 and not with_mix else [str(i) for i in range(count)], count
        if kind == "dbt_cloud":
            assert dbt is not None
            made = dbt.create(count * (2 if with_mix else 1))  # runs are read by id: the mix is moot
            return made[:: 2 if with_mix else 1], len(made)
        return create_assessments(emu.url, emu.api_key, count, v2=v2, mix=with_mix)

    def complete_one(assessment_id: str) -> None:
        if kind == "sleeper":
            (marker.parent / "warm" if assessment_id == "warm" else marker).touch()
            return
        if kind == "dbt_cloud":
            assert dbt is not None
            dbt.complete(assessment_id)
        else:
            http_json("POST", f"{emu.url}/_emulator/assessments/{assessment_id}/complete")

    marker = Path(tempfile.mkdtemp(prefix="modelred-bench-marker-")) / "ended"

    def spec(assessment_id: str) -> list[Any]:
        if kind == "sleeper":  # ends when the marker file exists: the warm-up's at once, the N's later
            target = marker.parent / "warm" if assessment_id == "warm" else marker
            return trigger_spec(kind, assessment_id, args.poll, v2, str(target))
        return trigger_spec(kind, assessment_id, args.poll, v2, emu.url)

    ids, created = create(n, mix)
    t_created = time.monotonic()
    home = Path(tempfile.mkdtemp(prefix="modelred-bench-triggerer-"))
    shutil.copy(template / "airflow.db", home / "airflow.db")
    env = base_env(template, emu, home)
    # Two or more triggerers: each may take a fair share (and a few more), so that they all hold some.
    capacity = n + 50 if triggerers == 1 else math.ceil(n / triggerers) + 10
    env["AIRFLOW__TRIGGERER__CAPACITY"] = str(capacity)
    env["AIRFLOW__TRIGGERER__MAX_TRIGGER_TO_SELECT_PER_LOOP"] = str(max(500, n // 4))
    if kind == "modelred_standalone":
        env["AIRFLOW__MODELRED__SHARED_STREAM"] = "False"
    if dbt is not None:
        env["AIRFLOW_CONN_BENCH_DBT"] = json.dumps(
            {"conn_type": "dbt_cloud", "host": f"localhost:{dbt.api_port}", "login": str(DBT_ACCOUNT),
             "password": "bench-token"}
        )  # fmt: skip
        env["SSL_CERT_FILE"] = str(dbt.cert)  # trust the stand-in's self-signed certificate
    lag_file = home / "lags.jsonl"
    logs, procs_started = [], []
    result: dict[str, Any] = {"kind": kind, "workload": workload, "n": n, "poll": args.poll}
    if triggerers > 1:
        result["triggerers"] = triggerers
    print(f"    {created} created in {t_created - t_begin:.0f} s", flush=True)

    def start_triggerer(index: int) -> None:
        log = open(artifact_log(f"triggerer-{label.replace(':', '-')}-{n}-{index}"), "wb")  # noqa: SIM115
        logs.append(log)
        procs_started.append(
            subprocess.Popen(
                [AIRFLOW, "triggerer", "--capacity", str(capacity)],
                env=env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    def everything() -> list[psutil.Process]:
        return [p for proc in procs_started for p in tree(psutil.Process(proc.pid))]

    def alive() -> bool:
        return all(p.poll() is None for p in procs_started)

    try:
        start_triggerer(0)
        seed(env, "probe", "probe", [["_probe_trigger.LoopLagProbe", {"path": str(lag_file)}]])
        deadline = time.monotonic() + 120
        while not lag_file.exists():
            if not alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the triggerer did not start the probe; see {logs[0].name}")
            time.sleep(0.5)
        for index in range(1, triggerers):
            start_triggerer(index)
        # Warm-up: one trigger of the kind on an assessment that already ended runs to its event, so
        # that the imports and first-session set-up are not charged to the N waiting triggers.
        warm, _ = create(1, False)
        complete_one(warm[0])
        seed(env, "warmup", "wait", [spec(warm[0])])
        deadline = time.monotonic() + 120
        while not left_deferred(home / "airflow.db", "warmup"):
            if not alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the warm-up trigger gave no event; see {logs[0].name}")
            time.sleep(0.5)
        time.sleep(3 + 2 * (triggerers - 1))
        rss_base = rss_of(everything())
        cpu_idle0, t_idle0 = cpu_of(everything()), time.monotonic()
        time.sleep(args.poll)  # the triggerer alone: its heartbeats, the probe
        idle_cpu_rate = (cpu_of(everything()) - cpu_idle0) / (time.monotonic() - t_idle0)
        get_route = GET_ROUTE[kind]
        gets_at_seed = server.counts().get(get_route, 0)
        seed(env, "wait", "wait", [spec(a) for a in ids])
        t_seeded = time.monotonic()
        # Uptake: every trigger started (its log file opened by "trigger ... starting").
        uptake: list[tuple[float, int]] = []
        started = 0
        deadline = t_seeded + args.start_timeout
        while started < n:
            if not alive():
                raise RuntimeError(f"a triggerer exited; see {logs[0].name}")
            started = started_triggers(home / "logs", "wait")
            uptake.append((round(time.monotonic() - t_seeded, 1), started))
            if started >= n or time.monotonic() > deadline:
                break
            time.sleep(2)
        t_started = time.monotonic()
        result["uptake"] = [*uptake[:: max(1, len(uptake) // 40)], uptake[-1]]
        result["seconds_to_start_all"] = round(t_started - t_seeded, 1) if started >= n else None
        result["started"] = started
        result["uptake_per_s"] = round(started / max(0.1, t_started - t_seeded), 1)
        for mark in (1000, n // 4, n // 2, n):
            reached = next((t for t, k in uptake if k >= mark), None)
            result[f"seconds_to_start_{mark}"] = reached
        result["created_assessments"] = created
        result["seconds_to_create"] = round(t_created - t_begin, 1)
        if started < n:
            result["not_reached"] = (
                f"not reached: {started} of {n} started in {t_started - t_seeded:.0f} s "
                f"(--start-timeout {args.start_timeout:g})"
            )
            print(result["not_reached"], flush=True)
            result["elapsed_s"] = round(time.monotonic() - t_begin, 1)
            return result
        print(f"    {n} started in {t_started - t_seeded:.0f} s", flush=True)
        # The start-up's own GETs must be over before the window: every trigger's first check (its own
        # GET, every contender alike) and, grouped, the reads of the first rounds while the group's list
        # grew to reach the deepest waiting one (paced by the group: they may last a few intervals).
        # Grouped: until an interval with at most 5 % of N own GETs; one-GET designs: N GETs made.
        settle_deadline = time.monotonic() + 8 * args.poll
        previous = server.counts().get(get_route, 0)
        while time.monotonic() < settle_deadline:
            time.sleep(args.poll if kind in ("modelred", "modelred_v2") else 1.0)
            current = server.counts().get(get_route, 0)
            if kind == "sleeper":
                break
            if kind in ("modelred", "modelred_v2"):
                if current - previous <= 0.05 * n:
                    break
            elif current - gets_at_seed >= n:
                break
            previous = current
        result["seconds_to_settle"] = round(time.monotonic() - t_started, 1)
        result["own_gets_before_window"] = server.counts().get(get_route, 0) - gets_at_seed
        time.sleep(args.poll * 1.5)
        # v2 rounds: the pages of QUEUED and RUNNING at the window (every run's unfinished ones count).
        unfinished_totals = [
            int(_request("GET", f"{emu.url}/api/v2/assessments?page=1&pageSize=1&status={s}", emu.api_key,
                         v2=True).get("total", 0))
            for s in ("QUEUED", "RUNNING")
        ]  # fmt: skip
        result["unfinished_at_window"] = unfinished_totals
        procs = everything()
        counts0 = server.counts()
        cpu0, wall0 = cpu_of(procs), time.monotonic()
        w0 = time.time()
        rss_peak = 0
        while time.monotonic() - wall0 < args.window:
            time.sleep(1.0)
            rss_peak = max(rss_peak, rss_of(everything()))
        cpu1, wall1 = cpu_of(everything()), time.monotonic()
        w1 = time.time()
        counts1 = server.counts()
        lags = read_lags(lag_file, w0, w1)
        delta = {k: counts1.get(k, 0) - counts0.get(k, 0) for k in counts1}
        delta = {
            k: v for k, v in delta.items() if v and "/_emulator" not in k and k.startswith(("GET", "POST"))
        }
        wall = wall1 - wall0
        gets = delta.get(get_route, 0)
        if kind == "sleeper":
            checks = 0
        elif kind in ("modelred", "modelred_v2"):
            list_route = "GET /api/v2/assessments" if v2 else "GET /api/assessments"
            per_round = sum(math.ceil(max(1, total) / 100) for total in unfinished_totals) if v2 else 1
            rounds = delta.get(list_route, 0) / per_round
            # With T triggerers, each holding some of the N, each runs its own group's rounds over its
            # own share: about (rounds / triggerers holding some) x N checks.
            holders = triggers_per_triggerer(home / "airflow.db")
            result["triggers_per_triggerer"] = holders
            checks = rounds / max(1, len(holders)) * n + gets
            result["rounds_in_window"] = round(rounds, 2)
            result["lists_per_interval"] = round(delta.get(list_route, 0) / (wall / args.poll), 2)
        else:
            checks = gets
        intervals = wall / args.poll
        cpu = cpu1 - cpu0
        result.update(
            {
                "window_s": round(wall, 1),
                "requests_in_window": delta,
                "requests_per_interval": round(sum(delta.values()) / intervals, 1),
                "checks_made_in_window": round(checks),
                "checks_due_in_window": round(n * intervals),
                "cpu_window_s": round(cpu, 3),
                "idle_triggerer_cpu_s_per_s": round(idle_cpu_rate, 4),
                "cpu_ms_per_check_made": round(cpu / checks * 1000, 4) if checks else None,
                "cpu_ms_per_check_made_net": (
                    round((cpu - idle_cpu_rate * wall) / checks * 1000, 4) if checks else None
                ),
                # The triggerer's CPU per second to hold the N triggers (net of idle), ms / s.
                "cpu_ms_per_s_net": round((cpu - idle_cpu_rate * wall) / wall * 1000, 1),
                "rss_base_mib": round(rss_base / 2**20, 1),
                "rss_per_trigger_kib": round((rss_peak - rss_base) / 1024 / n, 2),
                "loop_lag_ms": {
                    "samples": len(lags),
                    "p50": percentile(lags, 50) if lags else None,
                    "p99": percentile(lags, 99) if lags else None,
                    "max": max(lags) if lags else None,
                },
            }
        )
        # Completion: every assessment ends now; each event must reach the database.
        completed_at: dict[int, float] = {}
        # Spread over --complete-over seconds (all N within two intervals by default), 16 at a time.
        t_c0 = time.monotonic()
        step = args.complete_over / n

        def paced(index: int) -> None:
            time.sleep(max(0.0, t_c0 + index * step - time.monotonic()))
            complete_one(ids[index])
            completed_at[index] = time.time()

        if kind == "sleeper":  # one marker ends them all at once
            complete_one("all")
            completed_at.update(dict.fromkeys(range(n), time.time()))
        else:
            with ThreadPoolExecutor(16) as pool:
                list(pool.map(paced, range(n)))
        t_c1 = time.monotonic()
        db = home / "airflow.db"
        deadline = time.monotonic() + (args.event_timeout or args.poll * 3 + 60 + args.complete_over)
        result["event_timeout_s"] = args.event_timeout or args.poll * 3 + 60 + args.complete_over
        rows: list[tuple[int, str, str | None]] = []
        while time.monotonic() < deadline:
            rows = left_deferred(db, "wait")
            if len(rows) >= n:
                break
            time.sleep(1.0)
        latencies = sorted(
            _epoch(updated) - completed_at[index] for index, updated, _ in rows if index in completed_at
        )
        fired = fired_at(home / "logs", "wait")
        detections = sorted(fired[i] - completed_at[i] for i in fired if i in completed_at)
        # Airflow's own part: from the trigger's event to the event written (per task instance).
        written = {index: _epoch(updated) for index, updated, _ in rows}
        airflow_part = sorted(written[i] - fired[i] for i in fired if i in written)
        ok = carried = 0
        for _, _, next_kwargs in rows:
            with contextlib.suppress(TypeError, ValueError):
                event = json.loads(next_kwargs or "{}").get("event", {})
                ok += event.get("status") == "success"
                carried += "assessment" in event
        result.update(
            {
                "seconds_to_complete_all": round(t_c1 - t_c0, 1),
                "completed_over_s": args.complete_over,
                "events_written": len(rows),
                "events_success": ok,
                "events_carrying_assessment": carried,
                # The trigger's own part: its "Trigger fired event" log line minus the completion.
                "detection_s": _summary(detections, args.poll + 1),
                # Until the triggerer wrote the event to the database (task instance's updated_at).
                "latency_s": _summary(latencies, args.poll + 1),
                # Airflow's part: the event written minus the trigger's "Trigger fired event".
                "airflow_write_s": _summary(airflow_part, None),
                "elapsed_s": round(time.monotonic() - t_begin, 1),
            }
        )
    finally:
        for proc in procs_started:
            stop_process_group(proc, timeout=20)
        for log in logs:
            log.close()
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(marker.parent, ignore_errors=True)
        print(json.dumps(result, indent=1), flush=True)
    return result


def _summary(values: list[float], within: float | None) -> dict[str, Any]:
    values = sorted(values)
    out: dict[str, Any] = {
        "n": len(values),
        "p50": round(percentile(values, 50), 2) if values else None,
        "p95": round(percentile(values, 95), 2) if values else None,
        "max": round(values[-1], 2) if values else None,
    }
    if within is not None:
        out["within_poll_plus_1s"] = sum(1 for x in values if x <= within)
    return out


def base_env(template: Path, emu: Any, home: Path) -> dict[str, str]:
    env = scratch_airflow_env(str(home))
    env.update(
        {
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "bench" / "triggerer_dags"),
            "AIRFLOW__CORE__FERNET_KEY": (template / "fernet.key").read_text().strip(),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
            # Its own log-server port: the default 8794 is where other Airflow stacks on the machine
            # (tests, other benchmarks) look for their triggerer's logs.
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            # Airflow's default: every trigger logs to its task's log file (a real cost, and where the
            # trigger's own detection time is read: "Trigger fired event").
            "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "INFO"),
            "PYTHONPATH": str(REPO / "bench"),
            "AIRFLOW_CONN_BENCH_MODELRED": conn_env_json("modelred", emu.url, emu.api_key),
            "AIRFLOW_CONN_BENCH_HTTP": conn_env_json(
                "http", emu.url, None, Authorization=f"Bearer {emu.api_key}"
            ),
        }
    )
    return env


def make_template(emu: Any) -> Path:
    """A migrated SQLite metadata database with the benchmark's DAG serialized (copied per run)."""
    from cryptography.fernet import Fernet

    template = Path(tempfile.mkdtemp(prefix="modelred-bench-template-"))
    (template / "fernet.key").write_text(Fernet.generate_key().decode())
    env = base_env(template, emu, template)
    run_cli(env, "db", "migrate")
    run_cli(env, "dags", "reserialize")
    return template


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="waiting assessments per run (default 1000)")
    ap.add_argument("--poll", type=float, default=5.0, help="poll interval, seconds (default 5)")
    ap.add_argument("--window", type=float, default=30.0, help="measured window, seconds (default 30)")
    ap.add_argument(
        "--complete-over", type=float, default=None, help="seconds over which all N end (default 2 x poll)"
    )
    ap.add_argument(
        "--runs",
        default=DEFAULT_RUNS,
        help=f"kind:workload[:triggerers],... (default {DEFAULT_RUNS}); kinds: {', '.join(KINDS)}",
    )
    ap.add_argument(
        "--event-timeout",
        type=float,
        default=None,
        help="seconds, after the endings, for all events to be written (default 3 x poll + 60 + spread)",
    )
    ap.add_argument(
        "--start-timeout",
        type=float,
        default=300,
        help="seconds for the triggerer to start all N; past it the run's row says 'not reached: K of N'",
    )
    ap.add_argument("--name", default=None, help="JSON name (default real-triggerer-<n>)")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the clean-ups (process groups) on TERM
    if args.complete_over is None:
        args.complete_over = 2 * args.poll
    runs = []
    for text in filter(None, args.runs.split(",")):
        kind, workload, *rest = text.split(":")
        if kind not in KINDS or workload not in ("best", "mix") or not all(x.isdigit() for x in rest):
            ap.error(f"unknown run {text}")
        runs.append((kind, workload, int(rest[0]) if rest else 1))
    machine = print_machine()
    commit = commit_id()
    started = time.monotonic()
    results: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        emu = stack.enter_context(emulator_process(assessment_seconds=86400))
        dbt = None
        if any(kind == "dbt_cloud" for kind, _, _ in runs):
            dbt = DbtCloudServer()
            stack.callback(dbt.stop)
        template = make_template(emu)
        stack.callback(shutil.rmtree, template, ignore_errors=True)
        for kind, workload, triggerers in runs:
            try:
                results.append(one_run(kind, workload, args.n, args, emu, template, dbt, triggerers))
            except (RuntimeError, OSError) as exc:
                print(f"NOT MEASURED: {exc}", flush=True)
                row = {"kind": kind, "workload": workload, "n": args.n, "error": str(exc)[-500:]}
                if triggerers > 1:
                    row["triggerers"] = triggerers
                results.append(row)
    report(results, args)
    save(
        args.name or f"real-triggerer-{args.n}",
        {
            "machine": machine,
            "commit": commit,
            "args": vars(args),
            "seconds": round(time.monotonic() - started, 1),
            "results": results,
        },
    )
    return 0 if all("error" not in r for r in results) else 1


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    peer = next((r for r in results if r["kind"] == PEER and "checks_made_in_window" in r), None)
    peer_cpu = peer["cpu_ms_per_check_made_net"] if peer else None
    print(f"\nN={args.n}, poll {args.poll} s, window {args.window} s")
    print(f"{'run':34} {'req/interval':>12} {'checks made/due':>16} {'CPU ms/check':>12} {'vs peer':>8} "
          f"{'KiB/trig':>9} {'lag p50/p99 ms':>15} {'events':>11} {'detect p95':>10} "
          f"{'written p95':>11}")  # fmt: skip
    for r in results:
        name = f"{r['kind']}:{r['workload']}" + (f":{r['triggerers']}" if r.get("triggerers") else "")
        if "error" in r:
            print(f"{name:34} NOT MEASURED: {r['error'][-200:]}")
            continue
        if "not_reached" in r:
            print(f"{name:34} {r['not_reached']}")
            continue
        cpu = r["cpu_ms_per_check_made_net"]
        ratio = round(cpu / peer_cpu, 3) if cpu is not None and peer_cpu else None
        r["cpu_vs_peer"] = ratio
        lag = r["loop_lag_ms"]
        print(f"{name:34} {r['requests_per_interval']:12} "
              f"{r['checks_made_in_window']:>7}/{r['checks_due_in_window']:<8} {cpu!s:>12} {ratio!s:>8} "
              f"{r['rss_per_trigger_kib']:9} {lag['p50']!s:>7}/{lag['p99']!s:<7} "
              f"{r['events_written']:>5}/{r['n']:<5} {r['detection_s']['p95']!s:>10} "
              f"{r['latency_s']['p95']!s:>11}")  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
