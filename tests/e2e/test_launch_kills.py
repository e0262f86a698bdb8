"""Issue 10: a worker SIGKILLed during an uncertain launch must not lead its retry to a second assessment.

Real Airflow (the session's api-server, scheduler, dag-processor and triggerer, LocalExecutor) runs a
deferrable assessment task with retries. For each step of an uncertain launch the emulator makes the
POST uncertain, the test watches the emulator's counters and SIGKILLs the task's process at that step,
and the scheduler retries it. The retry reads Airflow's real task state store, where the first try
recorded its launch before the POST, and must end with exactly one assessment *created* (POSTs may
be more). Steps:

- ``in_flight``: the POST stalls past the 3 s request timeout; killed while it is in flight. The
  emulator drops a request whose client went away, so the retry finds nothing and launches once.
- ``answered``: the server creates the assessment and answers 504; killed as soon as it is created.
- ``backoff``: same, killed during the hook's backoff before its lookup.
- ``lookup``: same, killed while the hook's lookup (a stalled GET) runs.

The last three are the duplicates of the issue: the retry must adopt the assessment try 1 created.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from .harness import E2E_API_KEY, AirflowStack, EmulatorProcess, wait_until

DAG_ID = "e2e_modelred_launch_kills"
CONN_ID = "modelred_launch_kills"
CREATE = "POST /api/assessments"
LIST = "GET /api/assessments"
#: The connection: a 3 s request timeout, a 3-4.5 s backoff after an uncertain POST (room to kill in).
EXTRAS = {"timeout": 3, "retry_backoff": 3, "max_retries": 2, "retry_max_wait": 10, "retry_max_seconds": 60}

DAG_SOURCE = f'''
from datetime import timedelta

from airflow.sdk import DAG

from modelred_provider.operators.assessment import ModelRedAssessmentOperator

with DAG(dag_id="{DAG_ID}", schedule=None, catchup=False, tags=["e2e"]) as dag:
    ModelRedAssessmentOperator(
        task_id="assess",
        modelred_conn_id="{CONN_ID}",
        model="stuck-model",  # stays QUEUED until the test completes it
        test_types=["instruction_override", "reverse_psychology"],
        deferrable=True,
        poll_interval=1,
        timeout=timedelta(minutes=5),
        retries=2,
        retry_delay=timedelta(seconds=1),
    )
'''


class Emulator:
    """The emulator's control API, beyond what the harness wraps."""

    def __init__(self, process: EmulatorProcess) -> None:
        self.url = process.url
        self.process = process

    def fault(self, method: str, path: str, kind: str, **extra: Any) -> None:
        body = {"method": method, "path": path, "kind": kind, "count": 1, **extra}
        requests.post(f"{self.url}/_emulator/faults", json=body, timeout=5).raise_for_status()

    def clear_faults(self) -> None:
        requests.delete(f"{self.url}/_emulator/faults", timeout=5).raise_for_status()

    def created(self) -> list[str]:
        resp = requests.get(f"{self.url}/_emulator/assessments", timeout=5)
        resp.raise_for_status()
        return [str(i) for i in resp.json()["data"]]


@pytest.fixture(scope="module")
def kill_dag(airflow_stack: AirflowStack, emulator_process: EmulatorProcess) -> Iterator[str]:
    stack = airflow_stack
    conn = {
        "connection_id": CONN_ID,
        "conn_type": "modelred",
        "host": emulator_process.url,
        "password": E2E_API_KEY,
        "extra": json.dumps({**EXTRAS, "dashboard_url": emulator_process.url}),
    }
    resp = stack.api("POST", "/api/v2/connections", json=conn, ok=False)
    assert resp.status_code in (201, 409), f"creating {CONN_ID}: HTTP {resp.status_code} {resp.text[:500]}"
    (stack.dags_folder / f"{DAG_ID}.py").write_text(DAG_SOURCE)
    stack.wait_for_dag(DAG_ID, timeout=120)
    try:
        yield DAG_ID
    finally:  # a fault a failed step left armed would hit the next test of the session
        Emulator(emulator_process).clear_faults()


def _xcom(stack: AirflowStack, run_id: str, key: str) -> Any:
    resp = stack.api(
        "GET",
        f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/assess/xcomEntries/{key}",
        params={"deserialize": "true"},
        ok=False,
    )
    return resp.json()["value"] if resp.ok else None


def _kill_try_one_when(
    stack: AirflowStack,
    emulator: EmulatorProcess,
    run_id: str,
    ready: Callable[[], bool],
    *,
    on_post: Callable[[], None] | None = None,
    timeout: float = 90,
) -> float:
    """Poll every 50 ms; once ``ready()`` holds, SIGKILL try 1's task process. Returns when (monotonic).

    ``on_post`` runs once, as soon as the emulator has seen the POST (the listing before it is done).
    """
    pid = None
    deadline = time.monotonic() + timeout
    posted = False
    while time.monotonic() < deadline:
        if pid is None:
            ti = stack.task_instance(DAG_ID, run_id, "assess")
            if ti["state"] == "running" and ti.get("pid") and ti["try_number"] == 1:
                pid = int(ti["pid"])
        if on_post is not None and not posted and emulator.count(CREATE) > 0:
            posted = True
            on_post()
        if pid is not None and ready():
            os.kill(pid, signal.SIGKILL)  # the task process dies at once, like an OOM kill
            return time.monotonic()
        time.sleep(0.05)
    raise AssertionError(
        f"try 1 never reached the step to kill it at (pid {pid}, counts {emulator.counts()})\n"
        f"{stack.task_log(DAG_ID, run_id, 'assess', 1)}"
    )


@pytest.mark.parametrize("step", ["in_flight", "answered", "backoff", "lookup"])
def test_worker_killed_during_an_uncertain_launch_leaves_exactly_one_assessment(
    airflow_stack: AirflowStack, emulator_process: EmulatorProcess, kill_dag: str, step: str
) -> None:
    stack, emu = airflow_stack, Emulator(emulator_process)
    emu.clear_faults()
    emulator_process.reset_counts()
    before = set(emu.created())

    def created_now() -> list[str]:
        return [i for i in emu.created() if i not in before]

    lists_at_post: list[int] = []  # GET /api/assessments seen when the POST arrived (the listing before it)

    def on_post() -> None:
        lists_at_post.append(emulator_process.count(LIST))
        if step == "lookup":  # the next list is try 1's lookup: stall it, so it can be killed in it
            emu.fault("GET", "/api/assessments", "stall", stall_seconds=6)

    created_seen: list[float] = []

    def ready() -> bool:
        if step == "in_flight":  # the POST left and is stalled at the server
            return bool(lists_at_post)
        if not created_seen and created_now():
            created_seen.append(time.monotonic())
        if step == "answered":  # created; its 504 is on its way back
            return bool(created_seen)
        if step == "backoff":  # created, answered, and the hook sleeps 3-4.5 s before its lookup
            return bool(created_seen) and time.monotonic() - created_seen[0] > 1.0
        # lookup: it reached the server and stalls there
        return bool(lists_at_post) and emulator_process.count(LIST) > lists_at_post[0]

    if step == "in_flight":
        emu.fault("POST", "/api/assessments", "stall", stall_seconds=8)  # past the 3 s timeout
    else:
        emu.fault("POST", "/api/assessments", "process_then_504")

    run_id = stack.trigger(DAG_ID)
    try:
        killed_at = _kill_try_one_when(stack, emulator_process, run_id, ready, on_post=on_post)
        at_kill = created_now()
        counts_at_kill = emulator_process.counts()
        emu.clear_faults()  # the retry runs without faults
        if step == "backoff":
            assert counts_at_kill.get(LIST) == lists_at_post[0], f"the lookup had begun: {counts_at_kill}"

        seen: list[str] = []
        ti = stack.wait_task_state(DAG_ID, run_id, "assess", ["deferred", "success"], timeout=120, seen=seen)
        assert ti["try_number"] == 2, f"try 1 was killed, so try 2 must run: {ti}"
        retry_took = time.monotonic() - killed_at
        aid = wait_until(
            "try 2's assessment id in XCom", lambda: _xcom(stack, run_id, "assessment_id"), timeout=30
        )
        created = created_now()
        diagnostics = (
            f"step {step}: created {created} (at the kill: {at_kill}), counts at the kill {counts_at_kill}, "
            f"now {emulator_process.counts()}\n--- try 1 log:\n{stack.task_log(DAG_ID, run_id, 'assess', 1)}"
            f"\n--- try 2 log:\n{stack.task_log(DAG_ID, run_id, 'assess', 2)}"
        )
        assert len(created) == 1, "exactly one assessment may be created\n" + diagnostics
        assert aid == created[0], diagnostics
        if step == "in_flight":
            assert at_kill == [], "the emulator drops a stalled POST whose client died\n" + diagnostics
        else:
            assert at_kill == created, "try 1 created it; try 2 must have adopted it\n" + diagnostics
            assert "Adopting assessment" in stack.task_log(DAG_ID, run_id, "assess", 2), diagnostics

        # The run finishes normally on the one assessment; the stored record is then cleared.
        emulator_process.control(aid, "complete")
        stack.wait_task_state(DAG_ID, run_id, "assess", ["success"], timeout=90, seen=seen)
        summary = _xcom(stack, run_id, "return_value")
        summary = json.loads(summary) if isinstance(summary, str) else summary
        assert summary["assessment_id"] == aid and summary["status"] == "COMPLETED"
        assert len(created_now()) == 1
        print(f"step {step}: killed try 1, try 2 deferred {retry_took:.1f} s later on {aid}; states {seen}")
    finally:
        _end_the_run(stack, emu, run_id, created_now())


def _end_the_run(stack: AirflowStack, emu: Emulator, run_id: str, created: list[str]) -> None:
    """Whatever happened, end this run's assessments and the run, so that no trigger of it lists
    assessments during the next scenario (that would move the counters it kills by)."""
    emu.clear_faults()
    for aid in created:
        with contextlib.suppress(AssertionError, requests.RequestException):
            emu.process.control(aid, "complete")
    with contextlib.suppress(AssertionError):
        stack.wait_run_state(DAG_ID, run_id, ["success", "failed"], timeout=60)


def test_the_record_is_cleared_once_the_outcome_is_final(airflow_stack: AirflowStack, kill_dag: str) -> None:
    out = airflow_stack.python(
        "from airflow.models.task_state_store import TaskStateStoreModel as S\n"
        "from airflow.utils.session import create_session\n"
        "with create_session() as s:\n"
        f"    print(s.query(S).filter(S.dag_id == {DAG_ID!r}).count())\n"
    )
    assert out.strip().splitlines()[-1] == "0"
