"""The provider in a real deployment: api-server, scheduler, dag-processor and triggerer as separate
processes on SQLite with the LocalExecutor, plus the emulator, all on loopback.

The tests share one deployment and need no order: what two of them read (the release gate's run)
is a module fixture. The leak search is marked to run after all the others (in either order), so it
searches everything they left behind for the API key; run alone, it searches what the release run left.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from typing import Any

import pytest
import requests

from .harness import E2E_API_KEY, AirflowStack, EmulatorProcess, wait_until

CREATE = "POST /api/assessments"


def _xcom(stack: AirflowStack, dag_id: str, run_id: str, task_id: str, key: str) -> Any:
    entry = stack.api(
        "GET",
        f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}",
        params={"deserialize": "true"},
    ).json()
    value = entry["value"]
    return json.loads(value) if isinstance(value, str) and value[:1] in "{[" else value


def _trigger_kwargs(stack: AirflowStack) -> list[dict[str, Any]]:
    """Every trigger row's kwargs, decrypted by Airflow itself (they are stored encrypted)."""
    out = stack.python(
        "import json\n"
        "from airflow.models.trigger import Trigger\n"
        "from airflow.utils.session import create_session\n"
        "with create_session() as s:\n"
        "    print(json.dumps([{'classpath': t.classpath, 'kwargs': t.kwargs} for t in s.query(Trigger)],"
        " default=str))\n"
    )
    return json.loads(out.strip().splitlines()[-1])


def _wait_deferred_with_trigger(stack: AirflowStack, dag_id: str, run_id: str, seen: list[str]) -> dict:
    ti = stack.wait_task_state(dag_id, run_id, "assess", ["deferred"], timeout=120, seen=seen)
    triggers = [t for t in _trigger_kwargs(stack) if t["classpath"].startswith("modelred_provider.")]
    assert triggers, "a deferred task should have a ModelRed trigger row"
    for trig in triggers:
        assert E2E_API_KEY not in json.dumps(trig), f"the trigger's kwargs hold the API key: {trig}"
    return ti


@pytest.fixture(scope="module")
def release_run(airflow_stack: AirflowStack, emulator_process: EmulatorProcess) -> dict[str, Any]:
    """One run of the example release gate on a passing model, and the downstream run its asset event
    scheduled, both ended. Whichever test needs it first makes it, so no test depends on file order."""
    stack, dag_id = airflow_stack, "modelred_release_gate"
    creations_before = emulator_process.count(CREATE)
    stack.wait_for_dag("modelred_deploy_on_passing_assessment")
    stack.api("PATCH", "/api/v2/dags/modelred_deploy_on_passing_assessment", json={"is_paused": False})

    run_id = stack.trigger(dag_id, conf={"model": "gpt-4o-prod"})
    seen: list[str] = []
    stack.wait_task_state(dag_id, run_id, "assess_model", ["deferred"], timeout=150, seen=seen)
    ti = stack.wait_task_state(dag_id, run_id, "assess_model", ["success"], timeout=120, seen=seen)
    creations = emulator_process.count(CREATE) - creations_before
    stack.wait_task_state(dag_id, run_id, "deploy", ["success"], timeout=120)
    stack.wait_run_state(dag_id, run_id, ["success"], timeout=60)

    # The passing assessment's asset event schedules the downstream DAG.
    def downstream_run() -> dict | None:
        runs = stack.api("GET", "/api/v2/dags/modelred_deploy_on_passing_assessment/dagRuns").json()
        done = [r for r in runs["dag_runs"] if r["run_type"] == "asset_triggered" and r["state"] == "success"]
        return done[0] if done else None

    down = wait_until(
        "the asset-triggered downstream run",
        downstream_run,
        timeout=120,
        interval=2,
        diagnostics=stack.diagnostics,
    )
    return {"run_id": run_id, "seen": seen, "ti": ti, "creations": creations, "downstream": down}


def test_release_gate_defers_then_succeeds_with_summary_and_link(
    airflow_stack: AirflowStack, emulator_process: EmulatorProcess, release_run: dict[str, Any]
) -> None:
    stack, run_id, seen = airflow_stack, release_run["run_id"], release_run["seen"]
    assert "deferred" in seen and seen[-1] == "success", f"states seen: {seen}"
    assert release_run["ti"]["try_number"] == 1
    assert release_run["creations"] == 1

    summary = _xcom(stack, "modelred_release_gate", run_id, "assess_model", "return_value")
    assert summary["status"] == "COMPLETED" and summary["model"] == "gpt-4o-prod"
    assert summary["gate"]["passed"] is True and summary["score"] >= 70
    expected_url = f"{emulator_process.url}/assessments/{summary['assessment_id']}"
    assert summary["url"] == expected_url

    links = stack.api(
        "GET", f"/api/v2/dags/modelred_release_gate/dagRuns/{run_id}/taskInstances/assess_model/links"
    ).json()
    assert links["extra_links"].get("ModelRed Assessment") == expected_url, links
    page = requests.get(expected_url, timeout=10)
    assert page.status_code == 200 and summary["assessment_id"] in page.text

    down = release_run["downstream"]
    promoted = _xcom(
        stack, "modelred_deploy_on_passing_assessment", down["dag_run_id"], "promote_model", "return_value"
    )
    assert [p["assessment_id"] for p in promoted] == [summary["assessment_id"]]
    assert promoted[0]["score"] == summary["score"]


def test_triggerer_killed_while_deferred_task_still_finishes_once(
    airflow_stack: AirflowStack, emulator_process: EmulatorProcess
) -> None:
    stack, dag_id = airflow_stack, "e2e_modelred_deferred"
    creations_before = emulator_process.count(CREATE)
    run_id = stack.trigger(dag_id)
    seen: list[str] = []
    _wait_deferred_with_trigger(stack, dag_id, run_id, seen)
    assessment_id = _xcom(stack, dag_id, run_id, "assess", "assessment_id")

    triggerer = stack.components["triggerer"]
    triggerer.sigkill()
    assert not triggerer.alive()
    stack.restart_component("triggerer")
    stack.wait_healthy(timeout=120, components=("triggerer",))

    # The assessment ends only now, so only the new triggerer can see it end.
    emulator_process.control(assessment_id, "complete")
    ti = stack.wait_task_state(dag_id, run_id, "assess", ["success"], timeout=150, seen=seen)
    assert ti["try_number"] == 1, "the task resumed; it was not retried"
    summary = _xcom(stack, dag_id, run_id, "assess", "return_value")
    assert summary["assessment_id"] == assessment_id and summary["status"] == "COMPLETED"
    assert emulator_process.count(CREATE) - creations_before == 1, emulator_process.counts()


def test_worker_death_after_launch_retries_and_reattaches(
    airflow_stack: AirflowStack, emulator_process: EmulatorProcess
) -> None:
    stack, dag_id = airflow_stack, "e2e_modelred_in_process"
    creations_before = emulator_process.count(CREATE)
    run_id = stack.trigger(dag_id)
    seen: list[str] = []
    ti = stack.wait_task_state(dag_id, run_id, "assess", ["running"], timeout=150, seen=seen)
    wait_until(
        "the first try to create its assessment",
        lambda: emulator_process.count(CREATE) - creations_before == 1,
        timeout=60,
    )
    # The operator pushes the id to XCom right after the launch, before it starts waiting.
    assessment_id = wait_until(
        "the first try to push the assessment id",
        lambda: _xcom(stack, dag_id, run_id, "assess", "assessment_id"),
        timeout=30,
        diagnostics=stack.diagnostics,
    )
    ti = stack.task_instance(dag_id, run_id, "assess")
    assert ti["state"] == "running" and ti["try_number"] == 1, ti
    assert ti["pid"], f"the running task instance has no pid: {ti}"

    os.kill(ti["pid"], signal.SIGKILL)  # the task process dies mid-wait, like an OOM kill

    ti = wait_until(
        "the second try to run",
        lambda: (
            (t := stack.task_instance(dag_id, run_id, "assess"))["try_number"] == 2
            and t["state"] == "running"
            and t
        ),
        timeout=120,
        interval=0.5,
        diagnostics=stack.diagnostics,
    )
    emulator_process.control(assessment_id, "complete")
    ti = stack.wait_task_state(dag_id, run_id, "assess", ["success"], timeout=120, seen=seen)
    assert ti["try_number"] == 2
    summary = _xcom(stack, dag_id, run_id, "assess", "return_value")
    assert summary["assessment_id"] == assessment_id, "the retry must reattach to the first assessment"
    assert emulator_process.count(CREATE) - creations_before == 1, emulator_process.counts()
    first_try_log = stack.task_log(dag_id, run_id, "assess", 1)
    assert assessment_id in first_try_log


@pytest.mark.scan_after_all
def test_api_key_appears_nowhere(airflow_stack: AirflowStack, release_run: dict[str, Any]) -> None:
    """Run last (``scan_after_all``) it searches what every test left; run alone, what the release run
    left."""
    stack = airflow_stack
    key = E2E_API_KEY.encode()

    # Every file the deployment wrote: task logs, triggerer and component logs, the SQLite database.
    files = [p for p in stack.home.rglob("*") if p.is_file() and p.parent != stack.dags_folder]
    task_logs = [p for p in files if p.suffix == ".log" and "dag_id=" in str(p)]
    assert len(task_logs) >= 3, f"expected the release run's task logs at least, found {task_logs}"
    assert any(p.name == "triggerer.log" for p in files)
    leaks = [str(p) for p in files if key in p.read_bytes()]
    assert leaks == [], f"the API key appears in {leaks}"

    # The metadata DB, table by table, in plain SQL: XCom, rendered template fields, trigger rows.
    db = sqlite3.connect(stack.home / "airflow.db")
    try:
        xcoms = db.execute("select count(*), group_concat(value, '') from xcom").fetchone()
        rendered = db.execute(
            "select count(*), group_concat(rendered_fields, '') from rendered_task_instance_fields"
        )
        rendered = rendered.fetchone()
        triggers = db.execute("select count(*), group_concat(kwargs, '') from trigger").fetchone()
    finally:
        db.close()
    assert xcoms[0] > 0 and rendered[0] > 0, "expected XCom and rendered fields from the release run"
    for name, (_, blob) in (
        ("xcom", xcoms),
        ("rendered_task_instance_fields", rendered),
        ("trigger", triggers),
    ):
        assert E2E_API_KEY not in str(blob or ""), f"the API key is stored in {name}"
    assert E2E_API_KEY not in json.dumps(_trigger_kwargs(stack))

    # The REST API's answers about every task instance, its tries, XComs, links and logs.
    answers = []
    runs = stack.api("GET", "/api/v2/dags/~/dagRuns", params={"limit": 100}).json()["dag_runs"]
    assert runs
    for run in runs:
        base = f"/api/v2/dags/{run['dag_id']}/dagRuns/{run['dag_run_id']}"
        tis = stack.api("GET", f"{base}/taskInstances").json()["task_instances"]
        answers.append(json.dumps(tis))
        for ti in tis:
            tbase = f"{base}/taskInstances/{ti['task_id']}"
            answers.append(stack.api("GET", f"{tbase}/tries").text)
            answers.append(stack.api("GET", f"{tbase}/xcomEntries", ok=False).text)
            if ti["map_index"] < 0:
                answers.append(stack.api("GET", f"{tbase}/links", ok=False).text)
            for attempt in range(1, (ti["try_number"] or 1) + 1):
                answers.append(stack.task_log(run["dag_id"], run["dag_run_id"], ti["task_id"], attempt))
    assert E2E_API_KEY not in "\n".join(answers), "the API key appears in a REST API answer"
