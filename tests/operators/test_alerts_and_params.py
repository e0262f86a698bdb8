"""Issue 12: what the first run tells the user.

* Alerts: the exceptions an ``on_failure_callback``, Slack or e-mail alert carries name the model, link
  the assessment, and for a timeout say which limit passed.
* The sensor names the model by its slug, as the operator does (summary, log, asset event).
* Parameters that would be silently ignored are refused at DAG parse.
"""

from __future__ import annotations

import pytest
from airflow.sdk import Asset

from modelred_provider.exceptions import (
    ModelRedAssessmentFailedError,
    ModelRedAssessmentSensorTimeout,
    ModelRedAssessmentTimeoutError,
    ModelRedQualityGateError,
)
from modelred_provider.hooks.modelred import ModelRedHook
from modelred_provider.operators.assessment import ModelRedAssessmentOperator
from modelred_provider.sensors.assessment import ModelRedAssessmentSensor
from modelred_provider.waiting.outcome import TerminationReason, make_event
from tests.task_context import make_context

pytestmark = pytest.mark.modelred_emulator(assessment_seconds=1.0)
KEYS = ["reverse_psychology", "instruction_override", "dan_classic"]


def _launch(conn_id: str, model: str, *, wait: bool = True) -> str:
    with ModelRedHook(modelred_conn_id=conn_id) as hook:
        aid = hook.create_assessment(model, test_types=KEYS).id
        if wait:
            hook.wait_for_assessment(aid, poll_interval=0.2, timeout=30)
    return aid


def _op(conn_id: str, **kwargs) -> ModelRedAssessmentOperator:
    kwargs.setdefault("model", "gpt-4o-prod")
    kwargs.setdefault("test_types", KEYS)
    kwargs.setdefault("poll_interval", 0.2)
    return ModelRedAssessmentOperator(task_id="assess", modelred_conn_id=conn_id, **kwargs)


def _sensor(conn_id: str, aid: str, **kwargs) -> ModelRedAssessmentSensor:
    kwargs.setdefault("poke_interval", 0.2)
    return ModelRedAssessmentSensor(task_id="wait", assessment_id=aid, modelred_conn_id=conn_id, **kwargs)


def _url(emulator, aid: str) -> str:
    return f"{emulator.url}/assessments/{aid}"


# --- alerts -----------------------------------------------------------------------------------------


def test_gate_alert_names_the_model_and_links_the_assessment(modelred_emulator, modelred_connection):
    aid = _launch(modelred_connection, "llama-weak")
    op = _op(modelred_connection, model="llama-weak", min_score=70)
    with pytest.raises(ModelRedQualityGateError) as info:
        op.execute_complete(make_context(), make_event(TerminationReason.COMPLETED, aid, "done", "COMPLETED"))
    text = str(info.value)
    assert text.startswith("Model llama-weak did not pass the ModelRed quality gate: overall score "), text
    assert _url(modelred_emulator, aid) in text, text


def test_failed_alert_names_the_model_its_error_and_the_assessment(modelred_emulator, modelred_connection):
    aid = _launch(modelred_connection, "broken-endpoint")
    with pytest.raises(ModelRedAssessmentFailedError) as info:
        _op(modelred_connection, model="broken-endpoint").execute_complete(
            make_context(), make_event(TerminationReason.FAILED, aid, "failed", "FAILED")
        )
    text = str(info.value)
    assert text.startswith("ModelRed assessment of model broken-endpoint failed: Target model endpoint"), text
    assert _url(modelred_emulator, aid) in text, text


def test_timeout_alert_says_which_limit_passed(modelred_emulator, modelred_connection):
    op = _op(modelred_connection, model="stuck-model", timeout=1)
    with pytest.raises(ModelRedAssessmentTimeoutError) as info:
        op.execute(make_context())
    text = str(info.value)
    aid = info.value.assessment_id
    assert text.startswith(
        "ModelRed assessment of model stuck-model did not finish within 1 s (timeout): "
    ), text
    assert "still QUEUED" in text and _url(modelred_emulator, aid) in text, text


def test_sensor_timeout_alert_names_the_slug_and_the_limit(modelred_emulator, modelred_connection):
    aid = _launch(modelred_connection, "stuck-model", wait=False)
    sensor = _sensor(modelred_connection, aid, deferrable=True, timeout=2)
    with pytest.raises(ModelRedAssessmentSensorTimeout) as info:
        sensor.resume_execution(
            "execute_complete",
            {"event": make_event(TerminationReason.TIMEOUT, aid, "still QUEUED", "QUEUED")},
            make_context(),
        )
    text = str(info.value)
    assert "of model stuck-model did not end within 2 s (timeout)" in text, text
    assert "mdl_" not in text and _url(modelred_emulator, aid) in text, text


# --- the sensor names the model by its slug -------------------------------------------------------


def test_sensor_and_operator_name_the_model_alike(modelred_emulator, modelred_connection, capfd):
    aid = _launch(modelred_connection, "gpt-4o-prod")
    event = make_event(TerminationReason.COMPLETED, aid, "done", "COMPLETED")
    asset = Asset("modelred://slug-test/passed")
    gate = {"min_score": 50, "asset": asset}

    op_context, sensor_context = make_context(), make_context()
    from_operator = _op(modelred_connection, **gate).execute_complete(op_context, event)
    from_sensor = _sensor(modelred_connection, aid, **gate).execute_complete(sensor_context, event)

    assert from_sensor["model"] == from_operator["model"] == "gpt-4o-prod"
    assert from_sensor == from_operator  # one summary, whichever task produced it
    assert sensor_context["outlet_events"][asset].extra["model"] == "gpt-4o-prod"
    assert op_context["outlet_events"][asset].extra == sensor_context["outlet_events"][asset].extra
    log = capfd.readouterr()
    assert "mdl_" not in log.out + log.err
    assert log.out.count(f"ModelRed assessment {aid} of model gpt-4o-prod: COMPLETED") == 2


def test_operator_given_the_id_names_the_slug(modelred_emulator, modelred_connection):
    with ModelRedHook(modelred_conn_id=modelred_connection) as hook:
        model_id = hook.get_model("gpt-4o-prod").id
    assert model_id.startswith("mdl_")
    aid = _launch(modelred_connection, "gpt-4o-prod")
    summary = _op(modelred_connection, model=model_id).execute_complete(
        make_context(), make_event(TerminationReason.COMPLETED, aid, "done", "COMPLETED")
    )
    assert summary["model"] == "gpt-4o-prod"


def test_the_slug_is_resolved_once_per_task(modelred_emulator, modelred_connection):
    aid = _launch(modelred_connection, "gpt-4o-prod")
    sensor = _sensor(modelred_connection, aid)
    modelred_emulator.reset_counts()
    for _ in range(2):
        sensor.execute_complete(
            make_context(), make_event(TerminationReason.COMPLETED, aid, "done", "COMPLETED")
        )
    assert modelred_emulator.count("GET", "/api/models/{id}") == 1


# --- parameters that would be ignored are refused at parse -------------------------------------------


@pytest.mark.parametrize(
    "gate", [{"min_score": 70}, {"max_risk_level": "medium"}, {"fail_on_severities": ["critical"]}]
)
def test_gate_without_waiting_is_refused_at_parse(gate):
    (name,) = gate
    with pytest.raises(ValueError, match=f"{name} needs wait_for_completion=True"):
        ModelRedAssessmentOperator(
            task_id="t", model="gpt-4o-prod", test_types=["dan"], wait_for_completion=False, **gate
        )
    # Waiting, the same gate is fine; not waiting, no gate is fine.
    ModelRedAssessmentOperator(task_id="t", model="gpt-4o-prod", test_types=["dan"], **gate)
    ModelRedAssessmentOperator(
        task_id="u", model="gpt-4o-prod", test_types=["dan"], wait_for_completion=False
    )


def test_sensor_reschedule_and_deferrable_is_refused_at_parse():
    with pytest.raises(ValueError, match="mode='reschedule' and deferrable=True"):
        ModelRedAssessmentSensor(task_id="w", assessment_id="a1", mode="reschedule", deferrable=True)
    ModelRedAssessmentSensor(task_id="x", assessment_id="a1", mode="reschedule")
    ModelRedAssessmentSensor(task_id="y", assessment_id="a1", deferrable=True)


def test_map_index_template_defaults_to_the_model():
    from airflow.sdk import DAG

    from modelred_provider.operators.assessment import DEFAULT_MAP_INDEX_TEMPLATE

    with DAG("mr_map_index_default", schedule=None):
        plain = ModelRedAssessmentOperator(task_id="plain", model="gpt-4o-prod", test_types=["dan"])
        mapped = ModelRedAssessmentOperator.partial(task_id="mapped", test_types=["dan"]).expand(
            model=["gpt-4o-prod", "claude-safe"]
        )
        custom = ModelRedAssessmentOperator.partial(
            task_id="custom", test_types=["dan"], map_index_template="{{ task.priority }}"
        ).expand(model=["gpt-4o-prod"])
    assert DEFAULT_MAP_INDEX_TEMPLATE == "{{ task.model }}"
    assert plain.map_index_template == mapped.map_index_template == DEFAULT_MAP_INDEX_TEMPLATE
    assert custom.map_index_template == "{{ task.priority }}"
    # Rendering, per mapped instance, is checked under dag.test by tests/examples (the nightly scan).
