"""ModelRedAssessmentOperator against the emulator: deferral, completion for every event kind,
reattaching on retry, the in-process wait."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from airflow.sdk import Asset
from airflow.sdk.exceptions import TaskDeferred

from modelred_provider.exceptions import (
    ModelRedAssessmentError,
    ModelRedAssessmentFailedError,
    ModelRedAssessmentTimeoutError,
    ModelRedQualityGateError,
)
from modelred_provider.hooks.modelred import ModelRedHook
from modelred_provider.operators.assessment import STATE_KEY, ModelRedAssessmentOperator
from modelred_provider.triggers.assessment import ModelRedAssessmentTrigger
from modelred_provider.waiting.outcome import TerminationReason, make_event
from tests.task_context import FakeStateStore, FakeTI, make_context

# Short assessments keep the suite fast; the waits below are sized for them.
pytestmark = pytest.mark.modelred_emulator(assessment_seconds=1.0)

CREATE = ("POST", "/api/assessments")


def _out(capfd) -> str:
    captured = capfd.readouterr()
    return captured.out + captured.err


def _keys(conn_id: str) -> list[str]:
    hook = ModelRedHook(modelred_conn_id=conn_id)
    try:
        return [p.key for p in hook.get_probes().probes[:3]]
    finally:
        hook.close()


def _op(conn_id: str, **kwargs) -> ModelRedAssessmentOperator:
    kwargs.setdefault("model", "gpt-4o-prod")
    if not {"test_types", "probe_pack_ids", "probe_categories", "probe_severities"} & set(kwargs):
        kwargs["test_types"] = _keys(conn_id)
    kwargs.setdefault("poll_interval", 0.2)
    kwargs.setdefault("timeout", 30)
    return ModelRedAssessmentOperator(task_id="assess", modelred_conn_id=conn_id, **kwargs)


def _wait_terminal(conn_id: str, aid: str) -> None:
    hook = ModelRedHook(modelred_conn_id=conn_id)
    try:
        hook.wait_for_assessment(aid, poll_interval=0.2, timeout=30)
    finally:
        hook.close()


def test_defers_with_the_right_trigger_after_pushing_ids(modelred_emulator, modelred_connection):
    op = _op(modelred_connection, model="stuck-model", deferrable=True, timeout=600, retry_budget=4)
    context = make_context()
    before = time.time()
    with pytest.raises(TaskDeferred) as info:
        op.execute(context)
    trigger = info.value.trigger
    assert isinstance(trigger, ModelRedAssessmentTrigger)
    assert info.value.method_name == "execute_complete"
    (aid,) = modelred_emulator.created_assessments()
    _, kwargs = trigger.serialize()
    assert kwargs["assessment_id"] == aid
    assert kwargs["modelred_conn_id"] == modelred_connection
    assert kwargs["api_generation"] == "resources"
    assert kwargs["poll_interval"] == 0.2
    assert kwargs["retry_budget"] == 4
    assert kwargs["cancel_on_kill"] is True
    assert before + 600 <= kwargs["deadline"] <= time.time() + 600
    # Pushed and stored before waiting.
    assert context["ti"].xcom["assessment_id"] == aid
    assert context["ti"].xcom["assessment_url"].endswith(f"/assessments/{aid}")
    assert context["task_state_store"].data[STATE_KEY]["assessment_id"] == aid


def test_deadline_honours_execution_timeout(modelred_emulator, modelred_connection):
    op = _op(
        modelred_connection,
        model="stuck-model",
        deferrable=True,
        timeout=3600,
        execution_timeout=timedelta(seconds=120),
    )
    start = datetime.now(UTC) - timedelta(seconds=100)
    with pytest.raises(TaskDeferred) as info:
        op.execute(make_context(ti=FakeTI(start_date=start)))
    assert info.value.trigger.deadline == pytest.approx(start.timestamp() + 120, abs=0.01)


def test_without_waiting_returns_at_once(modelred_emulator, modelred_connection):
    op = _op(modelred_connection, model="stuck-model", wait_for_completion=False, deferrable=True)
    context = make_context()
    summary = op.execute(context)
    assert summary["status"] == "QUEUED" and summary["gate"] is None
    assert summary["assessment_id"] == modelred_emulator.created_assessments()[0]
    # Done once launched: the stored id is dropped, so clearing the task launches a new assessment.
    assert STATE_KEY not in context["task_state_store"].data
    op.execute(context)
    assert modelred_emulator.count(*CREATE) == 2


def _complete_event(modelred_connection, model: str) -> tuple[str, dict]:
    hook = ModelRedHook(modelred_conn_id=modelred_connection)
    try:
        aid = hook.create_assessment(model, test_types=_keys(modelred_connection)).id
    finally:
        hook.close()
    _wait_terminal(modelred_connection, aid)
    return aid, make_event(TerminationReason.COMPLETED, aid, "done", "COMPLETED")


def test_execute_complete_completed_returns_summary_and_emits_asset(modelred_emulator, modelred_connection):
    asset = Asset("modelred://gpt-4o-prod")
    op = _op(modelred_connection, min_score=50, max_risk_level="medium", asset=asset)
    assert asset in op.outlets
    aid, event = _complete_event(modelred_connection, "gpt-4o-prod")
    context = make_context()
    context["task_state_store"].set(STATE_KEY, {"assessment_id": aid})
    summary = op.execute_complete(context, event)
    assert summary["assessment_id"] == aid and summary["status"] == "COMPLETED"
    assert summary["gate"] == {"passed": True, "reasons": []}
    assert summary["score"] >= 50
    assert context["ti"].xcom["assessment_summary"] == summary
    extra = context["outlet_events"][asset].extra
    assert extra == {
        "assessment_id": aid,
        "score": summary["score"],
        "risk_level": summary["risk_level"],
        "passed": True,
        "model": "gpt-4o-prod",
        "airflow_task": summary["airflow_task"],
    }
    assert summary["airflow_task"]["try_number"] == 1  # read from the task instance
    assert STATE_KEY not in context["task_state_store"].data  # final: a cleared rerun launches anew


def test_execute_complete_gate_failure_lists_reasons_and_keeps_summary(
    modelred_emulator, modelred_connection
):
    op = _op(modelred_connection, model="llama-weak", min_score=70, fail_on_severities=["critical"])
    _, event = _complete_event(modelred_connection, "llama-weak")
    context = make_context()
    with pytest.raises(ModelRedQualityGateError) as info:
        op.execute_complete(context, event)
    assert len(info.value.reasons) == 2
    assert "below min_score=70" in str(info.value) and "critical" in str(info.value)
    pushed = context["ti"].xcom["assessment_summary"]
    assert pushed["gate"]["passed"] is False and pushed["gate"]["reasons"] == info.value.reasons


def test_execute_complete_failed_carries_server_error(modelred_emulator, modelred_connection):
    hook = ModelRedHook(modelred_conn_id=modelred_connection)
    aid = hook.create_assessment("broken-endpoint", test_types=_keys(modelred_connection)).id
    hook.close()
    _wait_terminal(modelred_connection, aid)
    op = _op(modelred_connection, model="broken-endpoint")
    context = make_context()
    with pytest.raises(ModelRedAssessmentFailedError) as info:
        op.execute_complete(context, make_event(TerminationReason.FAILED, aid, "failed", "FAILED"))
    assert info.value.server_error
    assert info.value.server_error in str(info.value)
    assert context["ti"].xcom["assessment_summary"]["status"] == "FAILED"


def test_execute_complete_cancelled(modelred_emulator, modelred_connection):
    hook = ModelRedHook(modelred_conn_id=modelred_connection)
    aid = hook.create_assessment("stuck-model", test_types=_keys(modelred_connection)).id
    hook.close()
    modelred_emulator.cancel_assessment(aid)
    with pytest.raises(ModelRedAssessmentError) as caught:
        _op(modelred_connection).execute_complete(
            make_context(), make_event(TerminationReason.CANCELLED, aid, "cancelled", "CANCELLED")
        )
    assert caught.value.reason == "cancelled" and type(caught.value) is ModelRedAssessmentError


def test_execute_complete_timeout_tries_to_cancel(modelred_emulator, modelred_connection, capfd):
    hook = ModelRedHook(modelred_conn_id=modelred_connection)
    packs = hook.list_probe_packs()
    aid = hook.create_assessment("stuck-model", probe_pack_ids=[packs[0].id]).id
    hook.close()
    op = _op(modelred_connection, model="stuck-model", probe_pack_ids=[packs[0].id])
    with pytest.raises(ModelRedAssessmentTimeoutError):
        op.execute_complete(make_context(), make_event(TerminationReason.TIMEOUT, aid, "late", "QUEUED"))
    assert modelred_emulator.count("PATCH", "/api/v2/assessments/{id}") == 1
    assert "cancel it in the ModelRed UI" in _out(capfd)


def test_execute_complete_error(modelred_emulator, modelred_connection):
    with pytest.raises(ModelRedAssessmentError, match="budget") as caught:
        _op(modelred_connection).execute_complete(
            make_context(), make_event(TerminationReason.ERROR, "a1", "retry budget exhausted", None)
        )
    assert caught.value.reason == "error"


def test_retry_reattaches_to_the_running_assessment(modelred_emulator, modelred_connection):
    op = _op(modelred_connection, model="stuck-model", deferrable=True)
    store = FakeStateStore()
    with pytest.raises(TaskDeferred):
        op.execute(make_context(store=store))
    (aid,) = modelred_emulator.created_assessments()
    with pytest.raises(TaskDeferred) as info:
        op.execute(make_context(store=store, ti=FakeTI(try_number=2)))
    assert info.value.trigger.assessment_id == aid
    assert modelred_emulator.count(*CREATE) == 1


def test_retry_takes_a_completed_or_failed_result_and_relaunches_after_a_cancel(
    modelred_emulator, modelred_connection
):
    done_id, _ = _complete_event(modelred_connection, "gpt-4o-prod")
    assert modelred_emulator.created_assessments() == [done_id]
    store = FakeStateStore()
    store.set(STATE_KEY, {"assessment_id": done_id, "api_generation": "resources", "model": "gpt-4o-prod"})
    summary = _op(modelred_connection, deferrable=True).execute(make_context(store=store))
    assert summary["assessment_id"] == done_id  # already terminal: no deferral, no new launch
    assert modelred_emulator.count(*CREATE) == 1

    hook = ModelRedHook(modelred_conn_id=modelred_connection)
    failed = hook.create_assessment("broken-endpoint", test_types=_keys(modelred_connection)).id
    hook.close()
    _wait_terminal(modelred_connection, failed)
    store.set(STATE_KEY, {"assessment_id": failed, "api_generation": "resources", "model": "gpt-4o-prod"})
    # FAILED: ModelRed's verdict on the assessment this task paid for; final, nothing launched again.
    with pytest.raises(ModelRedAssessmentFailedError) as info:
        _op(modelred_connection).execute(make_context(store=store))
    assert info.value.assessment_id == failed and info.value.server_error
    assert modelred_emulator.count(*CREATE) == 2 and STATE_KEY not in store.data

    hook = ModelRedHook(modelred_conn_id=modelred_connection)
    cancelled = hook.create_assessment("stuck-model", test_types=_keys(modelred_connection)).id
    hook.close()
    modelred_emulator.cancel_assessment(cancelled)
    store.set(STATE_KEY, {"assessment_id": cancelled, "api_generation": "resources", "model": "gpt-4o-prod"})
    summary = _op(modelred_connection).execute(make_context(store=store))
    assert summary["assessment_id"] not in (done_id, failed, cancelled)  # cancelled: launched afresh
    assert modelred_emulator.count(*CREATE) == 4


def test_sync_wait_logs_progress_and_returns_the_summary(modelred_emulator, modelred_connection, capfd):
    op = _op(modelred_connection, deferrable=False, min_score=10)
    summary = op.execute(make_context())
    assert summary["status"] == "COMPLETED" and summary["gate"]["passed"] is True
    out = _out(capfd)
    progress = re.findall(r"Assessment \S+: (?:QUEUED|RUNNING|COMPLETED), (\d+)%", out)
    assert len(progress) >= 2 and progress[-1] == "100"
    assert len(set(progress)) == len(progress)  # logged only when it changes
    assert "quality gate: PASSED" in out


def test_sync_timeout_tries_to_cancel_and_raises(modelred_emulator, modelred_connection, capfd):
    op = _op(modelred_connection, model="stuck-model", deferrable=False, timeout=1)
    with pytest.raises(ModelRedAssessmentTimeoutError):
        op.execute(make_context())
    # Resources API: no cancel endpoint, so the warning tells the user to cancel in the UI.
    assert "cancel it in the ModelRed UI" in _out(capfd)


def test_on_kill_cancels_best_effort_and_never_raises(modelred_emulator, modelred_connection):
    hook = ModelRedHook(modelred_conn_id=modelred_connection)
    pack = hook.list_probe_packs()[0].id
    hook.close()
    op = _op(modelred_connection, model="stuck-model", probe_pack_ids=[pack], wait_for_completion=False)
    op.execute(make_context())
    op.on_kill()  # 403 "requires web UI": a warning, no exception
    assert modelred_emulator.count("PATCH", "/api/v2/assessments/{id}") == 1
    modelred_emulator.inject_fault("PATCH", "/api/v2/assessments/*", kind="drop", count=100)
    op.on_kill()  # the connection drops: still no exception
    assert modelred_emulator.count("PATCH", "/api/v2/assessments/{id}") >= 2
