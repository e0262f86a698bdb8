"""Real Airflow runs (``dag.test()``; Airflow runs the deferral's trigger inline) against the emulator."""

from __future__ import annotations

from typing import Any

import pytest

# Short assessments keep the suite fast; the waits below are sized for them.
pytestmark = pytest.mark.modelred_emulator(assessment_seconds=1.0)

MODES = ["sync", "deferrable"]
PATCH_V2 = ("PATCH", "/api/v2/assessments/{id}")
CREATE = ("POST", "/api/assessments")


def _run(test_dags: Any, dag_id: str) -> Any:
    return test_dags.DAGS[dag_id].test()


def _ti(dr: Any, task_id: str = "assess") -> Any:
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = dr.get_task_instance(task_id, session=session)
        session.expunge(ti)
        return ti


def _xcom(dr: Any, key: str, task_id: str = "assess") -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        row = session.scalars(
            select(XComModel).where(
                XComModel.dag_id == dr.dag_id,
                XComModel.run_id == dr.run_id,
                XComModel.task_id == task_id,
                XComModel.key == key,
            )
        ).first()
        return None if row is None else XComModel.deserialize_value(row)


def _out(capfd, caplog) -> str:
    """Everything logged: Airflow's structlog output reaches the captured streams or the log records."""
    captured = capfd.readouterr()
    return captured.out + captured.err + caplog.text


def _stable(summary: dict[str, Any]) -> dict[str, Any]:
    """A summary without what differs between two launches: the assessment's id and URL, and the DAG
    and run that launched it (``airflow_task``, checked on its own)."""
    return {k: v for k, v in summary.items() if k not in ("assessment_id", "url", "airflow_task")}


@pytest.mark.parametrize("mode", MODES)
def test_passing_model(test_dags, modelred_emulator, modelred_connection, capfd, caplog, mode):
    dr = _run(test_dags, f"mr_pass_{mode}")
    assert dr.state == "success"
    # Deferrable really deferred (Airflow ran the trigger inline); sync never did.
    assert ("running trigger in line" in _out(capfd, caplog)) == (mode == "deferrable")
    summary = _xcom(dr, "return_value")
    (aid,) = modelred_emulator.created_assessments()
    assert summary["assessment_id"] == aid and summary["status"] == "COMPLETED"
    assert summary["gate"] == {"passed": True, "reasons": []}
    assert summary["model"] == "gpt-4o-prod" and summary["score"] >= 60
    assert _xcom(dr, "assessment_id") == aid
    assert _xcom(dr, "assessment_url") == summary["url"]
    # The extra link resolved from XCom, in both modes.
    assert _xcom(dr, "_link_ModelRedAssessmentLink") == summary["url"]


def test_deferrable_and_sync_return_equal_values(test_dags, modelred_emulator, modelred_connection):
    sync = _xcom(_run(test_dags, "mr_pass_sync"), "return_value")
    deferred = _xcom(_run(test_dags, "mr_pass_deferrable"), "return_value")
    assert sync["assessment_id"] != deferred["assessment_id"]  # two real launches
    assert _stable(sync) == _stable(deferred)
    for summary, dag_id in ((sync, "mr_pass_sync"), (deferred, "mr_pass_deferrable")):
        task = summary["airflow_task"]
        assert (task["dag_id"], task["task_id"], task["map_index"], task["try_number"]) == (
            dag_id,
            "assess",
            -1,
            1,
        )
        assert task["run_id"].startswith("manual__")


def test_passing_model_emits_the_asset_event(test_dags, modelred_emulator, modelred_connection):
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    dr = _run(test_dags, "mr_pass_deferrable")
    summary = _xcom(dr, "return_value")
    with create_session() as session:
        extras = session.scalars(
            select(AssetEvent.extra)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.uri == "modelred://gpt-4o-prod/passed", AssetEvent.source_run_id == dr.run_id)
        ).all()
    assert extras == [
        {
            "assessment_id": summary["assessment_id"],
            "score": summary["score"],
            "risk_level": summary["risk_level"],
            "passed": True,
            "model": "gpt-4o-prod",
            "airflow_task": summary["airflow_task"],  # which pipeline run produced the event
        }
    ]
    assert summary["airflow_task"]["dag_id"] == "mr_pass_deferrable"


@pytest.mark.parametrize("mode", MODES)
def test_failing_assessment(test_dags, modelred_emulator, modelred_connection, capfd, caplog, mode):
    dr = _run(test_dags, f"mr_failed_{mode}")
    assert dr.state == "failed"
    assert "ModelRedAssessmentFailedError" in _out(capfd, caplog)
    assert _xcom(dr, "assessment_summary")["status"] == "FAILED"
    # FAILED is final: no retry (the DAG allows one), so no second paid assessment.
    assert _ti(dr).try_number == 1
    assert modelred_emulator.count(*CREATE) == 1


@pytest.mark.parametrize("mode", MODES)
def test_gate_failure(test_dags, modelred_emulator, modelred_connection, capfd, caplog, mode):
    dr = _run(test_dags, f"mr_gate_{mode}")
    assert dr.state == "failed"
    out = _out(capfd, caplog)
    assert "ModelRedQualityGateError" in out
    summary = _xcom(dr, "assessment_summary")
    assert summary["status"] == "COMPLETED" and summary["gate"]["passed"] is False
    assert any("below min_score=70" in r for r in summary["gate"]["reasons"])
    assert _xcom(dr, "return_value") is None
    # A gate verdict is final: retries=1, yet no second try and no second launch.
    assert _ti(dr).try_number == 1
    assert modelred_emulator.count(*CREATE) == 1


@pytest.mark.parametrize("mode", MODES)
def test_timeout_attempts_cancel(test_dags, modelred_emulator, modelred_connection, capfd, caplog, mode):
    dr = _run(test_dags, f"mr_timeout_{mode}")
    assert dr.state == "failed"
    out = _out(capfd, caplog)
    assert "ModelRedAssessmentTimeoutError" in out
    assert modelred_emulator.count(*PATCH_V2) == 1  # the cancel was attempted...
    assert "cancel it in the ModelRed UI" in out  # ...refused for an API key, and the user told
    assert modelred_emulator.api_key not in out


@pytest.mark.parametrize("mode", MODES)
def test_retry_after_death_reattaches_without_a_second_launch(
    test_dags, modelred_emulator, modelred_connection, capfd, caplog, mode
):
    dr = _run(test_dags, f"mr_retry_{mode}")
    assert dr.state == "success"
    assert modelred_emulator.count(*CREATE) == 1
    (aid,) = modelred_emulator.created_assessments()
    assert _ti(dr).try_number == 2
    assert _xcom(dr, "return_value")["assessment_id"] == aid
    assert "simulated worker death" in _out(capfd, caplog)


@pytest.mark.parametrize("mode", ["poke", "reschedule", "deferrable"])
def test_sensor_modes_return_the_same_summary(test_dags, modelred_emulator, modelred_connection, mode):
    dr = _run(test_dags, f"mr_sensor_{mode}")
    assert dr.state == "success"
    (aid,) = modelred_emulator.created_assessments()
    summary = _xcom(dr, "return_value", task_id="wait")
    assert summary["assessment_id"] == aid and summary["status"] == "COMPLETED"
    assert summary["gate"]["passed"] is True
    assert _xcom(dr, "assessment_url", task_id="wait") == summary["url"]


@pytest.mark.parametrize("mode", ["poke", "reschedule", "deferrable"])
def test_sensor_timeout_with_soft_fail_skips_in_every_mode(
    test_dags, modelred_emulator, modelred_connection, mode
):
    dr = _run(test_dags, f"mr_sensor_timeout_{mode}")
    assert _ti(dr, "wait").state == "skipped"
    assert modelred_emulator.count(*PATCH_V2) == 0  # a sensor never cancels what it watches


def _passed_events(dr: Any, uri: str) -> list[dict[str, Any]]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.uri == uri, AssetEvent.source_run_id == dr.run_id)
            .all()
        )
        return [dict(row.extra or {}) for row in rows]


@pytest.mark.parametrize("mode", MODES)
def test_branch_on_the_verdict(test_dags, modelred_emulator, modelred_connection, mode):
    """fail_on_gate=False: the task succeeds for a failing model too, a branch routes on the verdict,
    and only a pass emits the asset event (the outlet is an alias: a succeeding task emits its outlets)."""
    dag = test_dags.DAGS[f"mr_branch_{mode}"]
    uri = test_dags.BRANCH_ASSET.uri
    weak = dag.test(run_conf={"model": "llama-weak"})
    assert weak.state == "success"
    states = {ti.task_id: ti.state for ti in weak.get_task_instances()}
    assert states == {"assess": "success", "route": "success", "deploy": "skipped", "review": "success"}
    summary = _xcom(weak, "return_value")
    assert summary["gate"]["passed"] is False and summary["gate"]["reasons"]
    assert summary["airflow_task"] == {
        "dag_id": f"mr_branch_{mode}",
        "run_id": weak.run_id,
        "task_id": "assess",
        "map_index": -1,
        "try_number": 1,
    }
    assert _passed_events(weak, uri) == [], "a failing model must not emit the 'passed' asset event"

    safe = dag.test(run_conf={"model": "gpt-4o-prod"})
    states = {ti.task_id: ti.state for ti in safe.get_task_instances()}
    assert states == {"assess": "success", "route": "success", "deploy": "success", "review": "skipped"}
    passed = _xcom(safe, "return_value")
    (event,) = _passed_events(safe, uri)
    assert event["passed"] is True and event["assessment_id"] == passed["assessment_id"]
    assert event["airflow_task"]["run_id"] == safe.run_id
