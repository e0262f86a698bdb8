"""Each example DAG runs under ``dag.test()`` against the emulator (deferral runs the trigger inline)."""

from __future__ import annotations

import pytest

from .support import load_dag, states, xcom_value

FAST = pytest.mark.modelred_emulator(assessment_seconds=1.0)


def _asset_events(dag_run) -> list[dict]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.name == "modelred_model_passed", AssetEvent.source_run_id == dag_run.run_id)
            .all()
        )
        return [dict(row.extra or {}) for row in rows]


@FAST
def test_release_gate_passing_model_deploys(examples_env, modelred_emulator) -> None:
    dag = load_dag("modelred_release_gate")
    dag_run = dag.test(run_conf={"model": "gpt-4o-prod"})

    assert states(dag_run) == {"train_model": "success", "assess_model": "success", "deploy": "success"}
    summary = xcom_value(dag_run, "assess_model")
    assert summary["status"] == "COMPLETED" and summary["model"] == "gpt-4o-prod"
    assert summary["gate"]["passed"] is True and summary["score"] >= 70
    assert summary["url"] == f"{modelred_emulator.url}/assessments/{summary['assessment_id']}"
    assert xcom_value(dag_run, "deploy") == "deployed gpt-4o-prod"
    assert modelred_emulator.count("POST", "/api/assessments") == 1
    events = _asset_events(dag_run)
    assert len(events) == 1 and events[0]["score"] == summary["score"], events


@FAST
def test_release_gate_blocks_a_weak_model(examples_env, modelred_emulator) -> None:
    dag = load_dag("modelred_release_gate")
    dag_run = dag.test(run_conf={"model": "llama-weak"})

    got = states(dag_run)
    assert got["assess_model"] == "failed" and got["deploy"] == "upstream_failed", got
    assert dag_run.state == "failed"
    # The gate's verdict is still published for whoever looks at the failed task.
    summary = xcom_value(dag_run, "assess_model", key="assessment_summary")
    assert summary["gate"]["passed"] is False and summary["gate"]["reasons"], summary
    assert _asset_events(dag_run) == [], "a failing model must not emit the 'passed' asset event"
    # retries=1, but a gate verdict is final (AirflowFailException): no second try, no second launch.
    assert modelred_emulator.count("POST", "/api/assessments") == 1


@pytest.mark.modelred_emulator(
    assessment_seconds=1.0, scenario={"models": {"stuck-model": {"outcome": "pass", "score": 88}}}
)
def test_nightly_scan_reports_every_model_and_fails_the_run(examples_env, modelred_emulator, capfd) -> None:
    from modelred_provider.hooks.modelred import ModelRedHook
    from modelred_provider.testing.catalogue import seed_models

    with ModelRedHook() as hook:
        active = sorted(m.model_id or "" for m in hook.list_models(status="active") if m.is_active)
    assert len(active) >= 5

    dag = load_dag("modelred_nightly_scan")
    dag_run = dag.test()
    log = capfd.readouterr().out

    assert xcom_value(dag_run, "list_active_models") == active
    got = states(dag_run)
    scans = {k: v for k, v in got.items() if k.startswith("scan[")}
    assert len(scans) == len(active), got
    assert modelred_emulator.count("POST", "/api/assessments") == len(active)
    failed = sorted(active[int(k[5:-1])] for k, v in scans.items() if v == "failed")
    # The seeded weak and broken models fail their own mapped task (the others pass the gate) ...
    assert failed == ["broken-endpoint", "llama-weak"], got
    # ... and the run says so: the summary fails, so the run ends failed.
    assert got["summarise"] == "failed" and dag_run.state == "failed", got

    # Every model is reported, the failing ones first, each with why.
    rows = xcom_value(dag_run, "summarise", key="scan_report")
    assert sorted(r["model"] for r in rows) == active
    assert [r["model"] for r in rows if not r["passed"]] == [r["model"] for r in rows[: len(failed)]]
    why = {r["model"]: r["why"] for r in rows}
    assert "is below min_score=70" in why["llama-weak"], why
    error = {m["modelId"]: m["_error"] for m in seed_models()}["broken-endpoint"]
    assert f"assessment FAILED: {error}" in why["broken-endpoint"], why
    assert all(why[m] == "" for m in active if m not in failed), why
    # The failure's message (what an alert carries) lists which models and why.
    assert "2 of 6 models failed the nightly ModelRed scan: " in log, log[-3000:]
    assert f"broken-endpoint: assessment FAILED: {error}" in log

    # Each mapped scan is labelled by its model in the UI (the operator's default map_index_template).
    assert _rendered_map_indexes(dag_run, "scan") == {i: model for i, model in enumerate(active)}


def _rendered_map_indexes(dag_run, task_id: str) -> dict[int, str | None]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter_by(
            dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id
        )
        return {ti.map_index: ti.rendered_map_index for ti in tis}


@FAST
def test_wait_for_assessment_started_elsewhere(examples_env, modelred_emulator) -> None:
    from modelred_provider.hooks.modelred import ModelRedHook

    hook = ModelRedHook()
    try:  # "elsewhere": launched directly through the API, not by Airflow
        started = hook.create_assessment("claude-safe", test_types=["reverse_psychology", "dan_classic"])
    finally:
        hook.close()

    dag = load_dag("modelred_wait_for_assessment")
    dag_run = dag.test(run_conf={"assessment_id": started.id})

    assert states(dag_run) == {"wait_for_assessment": "success", "report": "success"}
    summary = xcom_value(dag_run, "wait_for_assessment")
    assert summary["assessment_id"] == started.id and summary["status"] == "COMPLETED"
    assert modelred_emulator.count("POST", "/api/assessments") == 1, "the sensor must not launch anything"


@FAST
def test_downstream_dag_runs_by_hand(examples_env, modelred_emulator) -> None:
    # Scheduling on the asset event needs the scheduler: tests/e2e checks that. By hand it runs too.
    dag = load_dag("modelred_deploy_on_passing_assessment")
    # Scheduled on exactly the asset the release gate's assessment emits (same name and URI).
    emitted = load_dag("modelred_release_gate").get_task("assess_model").asset
    assert list(dag.timetable.asset_condition.objects) == [emitted]
    dag_run = dag.test()
    assert states(dag_run) == {"promote_model": "success"}
    assert xcom_value(dag_run, "promote_model") == []
