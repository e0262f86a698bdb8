"""Issue 14, item 5: the trigger's event carries the final assessment, so resuming needs no GET.

The task's results (return value, summary, exception and its text) from an event that carries the
assessment are exactly those from the same event without it (the task reads it with a GET at resume),
for the operator and the sensor, passed, gated and FAILED alike.
"""

from __future__ import annotations

import asyncio

import pytest

from modelred_provider.exceptions import ModelRedAssessmentError
from modelred_provider.hooks.modelred import ModelRedHook
from modelred_provider.operators.assessment import ModelRedAssessmentOperator
from modelred_provider.sensors.assessment import ModelRedAssessmentSensor
from modelred_provider.triggers.assessment import EVENT_ASSESSMENT_MAX_BYTES, ModelRedAssessmentTrigger
from tests.task_context import make_context

pytestmark = pytest.mark.modelred_emulator(assessment_seconds=1.0)
KEYS = ["reverse_psychology", "instruction_override", "dan_classic"]
GET_ONE = "/api/assessments/{id}"


def _event(conn_id: str, model: str) -> dict:
    with ModelRedHook(modelred_conn_id=conn_id) as hook:
        aid = hook.create_assessment(model, test_types=KEYS).id

    async def wait() -> dict:
        trigger = ModelRedAssessmentTrigger(aid, conn_id, poll_interval=0.2, retry_budget=3)
        try:
            events = [e async for e in trigger.run()]
            return events[0].payload
        finally:
            await trigger.cleanup()

    return asyncio.run(wait())


def _outcome(task, event: dict):
    context = make_context()
    try:
        result = task.execute_complete(context, event)
    except ModelRedAssessmentError as error:
        result = (type(error), str(error), error.summary)
    return result, context["ti"].xcom.get("assessment_summary")


@pytest.mark.parametrize(
    ("model", "gate"),
    [("gpt-4o-prod", {}), ("llama-weak", {"min_score": 70}), ("broken-endpoint", {})],
    ids=["passed", "gated", "failed"],
)
def test_the_carried_assessment_gives_the_same_results_without_a_get(
    modelred_emulator, modelred_connection, model, gate
):
    event = _event(modelred_connection, model)
    assert "assessment" in event
    bare = {k: v for k, v in event.items() if k != "assessment"}
    for make in (
        lambda: ModelRedAssessmentOperator(
            task_id="assess", model=model, test_types=KEYS, modelred_conn_id=modelred_connection, **gate
        ),
        lambda: ModelRedAssessmentSensor(
            task_id="wait", assessment_id=event["assessment_id"], modelred_conn_id=modelred_connection, **gate
        ),
    ):
        modelred_emulator.reset_counts()
        carried = _outcome(make(), event)
        assert modelred_emulator.count("GET", GET_ONE) == 0  # resumed without reading the assessment
        read = _outcome(make(), bare)
        assert modelred_emulator.count("GET", GET_ONE) == 1
        assert carried == read


def test_a_report_larger_than_the_cap_is_read_at_resume(modelred_emulator, modelred_connection, monkeypatch):
    import modelred_provider.triggers.assessment as module

    monkeypatch.setattr(module, "EVENT_ASSESSMENT_MAX_BYTES", 200)  # smaller than any finished answer
    event = _event(modelred_connection, "gpt-4o-prod")
    assert event["reason"] == "completed" and "assessment" not in event
    assert EVENT_ASSESSMENT_MAX_BYTES == 32 * 1024
