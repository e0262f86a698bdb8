"""ModelRedAssessmentSensor against the emulator: poke, deferral, timeout and soft_fail parity."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from airflow.sdk.bases.sensor import PokeReturnValue
from airflow.sdk.exceptions import AirflowSensorTimeout, AirflowSkipException, TaskDeferred

from modelred_provider.exceptions import (
    ModelRedAssessmentError,
    ModelRedAssessmentFailedError,
    ModelRedQualityGateError,
)
from modelred_provider.hooks.modelred import ModelRedHook
from modelred_provider.sensors.assessment import ModelRedAssessmentSensor
from modelred_provider.waiting.outcome import TerminationReason, make_event
from tests.task_context import FakeTI, make_context

# Short assessments keep the suite fast; the waits below are sized for them.
pytestmark = pytest.mark.modelred_emulator(assessment_seconds=1.0)


def _launch(conn_id: str, model: str) -> str:
    hook = ModelRedHook(modelred_conn_id=conn_id)
    try:
        keys = [p.key for p in hook.get_probes().probes[:3]]
        return hook.create_assessment(model, test_types=keys).id
    finally:
        hook.close()


def _sensor(conn_id: str, aid: str, **kwargs) -> ModelRedAssessmentSensor:
    kwargs.setdefault("poke_interval", 0.2)
    kwargs.setdefault("timeout", 30)
    return ModelRedAssessmentSensor(task_id="wait", assessment_id=aid, modelred_conn_id=conn_id, **kwargs)


def _poke_until_done(sensor, context, limit: float = 20):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        result = sensor.poke(context)
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError("the assessment did not end")


def test_deferrable_defers_without_owning_the_assessment(modelred_emulator, modelred_connection):
    aid = _launch(modelred_connection, "stuck-model")
    sensor = _sensor(modelred_connection, aid, deferrable=True, timeout=90)
    start = datetime.now(UTC) - timedelta(seconds=30)
    context = make_context(ti=FakeTI(start_date=start))
    with pytest.raises(TaskDeferred) as info:
        sensor.execute(context)
    _, kwargs = info.value.trigger.serialize()
    assert kwargs["assessment_id"] == aid and kwargs["poll_interval"] == 0.2
    assert kwargs["cancel_on_kill"] is False
    # timeout counts from the start of the try, as in poke mode
    assert kwargs["deadline"] == pytest.approx(start.timestamp() + 90, abs=0.01)
    assert context["ti"].xcom["assessment_url"].endswith(aid)


def test_poke_returns_the_operator_summary(modelred_emulator, modelred_connection):
    # A long assessment that we end by hand: the first poke sees it running however loaded the machine.
    modelred_emulator.assessment_seconds = 600
    aid = _launch(modelred_connection, "gpt-4o-prod")
    sensor = _sensor(modelred_connection, aid, min_score=50)
    context = make_context()
    assert sensor.poke(context) is False  # still queued
    modelred_emulator.complete_assessment(aid)
    result = _poke_until_done(sensor, context)
    assert isinstance(result, PokeReturnValue)
    summary = result.xcom_value
    assert summary["assessment_id"] == aid and summary["gate"]["passed"] is True
    # execute_complete on the same assessment gives the same value (deferrable parity)
    again = _sensor(modelred_connection, aid, min_score=50).execute_complete(
        make_context(), make_event(TerminationReason.COMPLETED, aid, "done", "COMPLETED")
    )
    assert again == summary


def test_ids_are_pushed_by_the_first_poke_that_reads_the_assessment(modelred_emulator, modelred_connection):
    """A first poke that fails (a 503 past the hook's retries) must not leave the ids and the extra
    link's URL unpushed for the rest of the wait."""
    modelred_emulator.assessment_seconds = 600
    aid = _launch(modelred_connection, "gpt-4o-prod")
    sensor = _sensor(modelred_connection, aid)
    context = make_context()
    modelred_emulator.inject_fault("GET", f"/api/assessments/{aid}", kind="status", status=503, count=None)
    assert sensor.poke(context) is False  # a transient failure, within the retry budget
    assert "assessment_id" not in context["ti"].xcom
    modelred_emulator.clear_faults()
    assert sensor.poke(context) is False
    assert context["ti"].xcom["assessment_id"] == aid
    assert context["ti"].xcom["assessment_url"].endswith(aid)


@pytest.mark.parametrize("soft_fail", [False, True])
def test_failed_assessment_same_outcome_in_poke_and_deferrable(
    modelred_emulator, modelred_connection, soft_fail
):
    aid = _launch(modelred_connection, "broken-endpoint")
    expected = AirflowSkipException if soft_fail else ModelRedAssessmentFailedError
    with pytest.raises(expected):
        _poke_until_done(_sensor(modelred_connection, aid, soft_fail=soft_fail), make_context())
    deferred = _sensor(modelred_connection, aid, soft_fail=soft_fail, deferrable=True)
    with pytest.raises(expected):
        deferred.resume_execution(
            "execute_complete",
            {"event": make_event(TerminationReason.FAILED, aid, "failed", "FAILED")},
            make_context(),
        )


@pytest.mark.parametrize("soft_fail", [False, True])
def test_timeout_same_outcome_in_poke_and_deferrable(modelred_emulator, modelred_connection, soft_fail):
    aid = _launch(modelred_connection, "stuck-model")
    expected = AirflowSkipException if soft_fail else AirflowSensorTimeout
    poking = _sensor(modelred_connection, aid, soft_fail=soft_fail, timeout=0.5)
    with pytest.raises(expected):
        poking.execute(make_context())
    deferred = _sensor(modelred_connection, aid, soft_fail=soft_fail, deferrable=True, timeout=0.5)
    with pytest.raises(expected):
        deferred.resume_execution(
            "execute_complete",
            {"event": make_event(TerminationReason.TIMEOUT, aid, "late", "QUEUED")},
            make_context(),
        )
    assert modelred_emulator.count("PATCH", "/api/v2/assessments/{id}") == 0


def test_gate_failure_in_poke(modelred_emulator, modelred_connection):
    aid = _launch(modelred_connection, "llama-weak")
    context = make_context()
    with pytest.raises(ModelRedQualityGateError):
        _poke_until_done(_sensor(modelred_connection, aid, max_risk_level="low"), context)
    assert context["ti"].xcom["assessment_summary"]["gate"]["passed"] is False


def test_transient_errors_while_poking_are_retried(modelred_emulator, modelred_connection):
    aid = _launch(modelred_connection, "gpt-4o-prod")
    modelred_emulator.inject_fault("GET", f"/api/assessments/{aid}", kind="status", status=503, count=6)
    sensor = _sensor(modelred_connection, aid, retry_budget=5)
    result = _poke_until_done(sensor, make_context(), limit=60)
    assert result.xcom_value["status"] == "COMPLETED"


@pytest.mark.parametrize("soft_fail", [False, True])
def test_unknown_assessment_same_outcome_in_poke_and_deferrable(
    modelred_emulator, modelred_connection, soft_fail
):
    # A 404 is permanent: both modes end through the same completion (a skip with soft_fail).
    expected = AirflowSkipException if soft_fail else ModelRedAssessmentError
    for deferrable in (False, True):
        sensor = _sensor(
            modelred_connection, "asm_does_not_exist", soft_fail=soft_fail, deferrable=deferrable
        )
        with pytest.raises(expected, match="asm_does_not_exist"):
            sensor.execute(make_context())


def test_connection_and_api_generation_are_templated(modelred_emulator, modelred_connection):
    """As the peers' sensors: the connection and the API generation may come from params or XCom."""
    modelred_emulator.assessment_seconds = 600
    hook = ModelRedHook(modelred_conn_id=modelred_connection)
    try:
        pack = hook.list_probe_packs()[0].id
        aid = hook.create_assessment("gpt-4o-prod", probe_pack_ids=[pack]).id
    finally:
        hook.close()
    sensor = ModelRedAssessmentSensor(
        task_id="wait",
        assessment_id=aid,
        modelred_conn_id="{{ params.conn }}",
        api_generation="{{ params.generation }}",
        poke_interval=0.2,
    )
    assert {"modelred_conn_id", "api_generation"} <= set(sensor.template_fields)
    sensor.render_template_fields({"params": {"conn": modelred_connection, "generation": "v2"}})
    assert sensor.modelred_conn_id == modelred_connection and sensor.api_generation == "v2"
    context = make_context()
    assert sensor.poke(context) is False
    modelred_emulator.complete_assessment(aid)
    summary = _poke_until_done(sensor, context).xcom_value
    assert summary["assessment_id"] == aid and summary["status"] == "COMPLETED"
    assert modelred_emulator.count("GET", "/api/v2/assessments/{id}") >= 2  # read through v2

    wrong = ModelRedAssessmentSensor(
        task_id="wait", assessment_id=aid, modelred_conn_id=modelred_connection, api_generation="{{ x }}"
    )
    wrong.api_generation = "v3"  # what the template rendered
    with pytest.raises(ModelRedAssessmentError, match="api_generation='v3' is unknown") as refused:
        wrong.poke(make_context())
    assert refused.value.reason == "error" and refused.value.assessment_id == aid
