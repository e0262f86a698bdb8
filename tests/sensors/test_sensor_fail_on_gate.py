"""``fail_on_gate=False`` on ModelRedAssessmentSensor, as on the operator: the verdict is returned for a
branch instead of failing the task, and the asset event still needs a pass. Against the emulator."""

from __future__ import annotations

import time
from typing import Any

import pytest
from airflow.sdk import Asset, AssetAlias

from modelred_provider.exceptions import ModelRedAssessmentFailedError, ModelRedQualityGateError
from modelred_provider.hooks.modelred import ModelRedHook
from modelred_provider.sensors.assessment import ModelRedAssessmentSensor
from tests.task_context import FakeTI, make_context

pytestmark = pytest.mark.modelred_emulator(assessment_seconds=0.5)

PASSED = Asset(name="sensor_model_passed", uri="modelred://tests/sensor/passed")


def _launch(model: str) -> str:
    with ModelRedHook() as hook:
        return hook.create_assessment(model, test_types=["dan_classic", "instruction_override"]).id


def _poke_until_done(sensor: ModelRedAssessmentSensor, context: dict) -> Any:
    end = time.monotonic() + 20
    while time.monotonic() < end:
        result = sensor.poke(context)
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError("the assessment did not end")


def _sensor(aid: str, **kwargs) -> ModelRedAssessmentSensor:
    return ModelRedAssessmentSensor(
        task_id="wait", assessment_id=aid, min_score=70, poke_interval=0.2, timeout=30, **kwargs
    )


def test_a_failing_model_returns_its_verdict(modelred_emulator, modelred_connection) -> None:
    aid = _launch("llama-weak")
    sensor = _sensor(aid, fail_on_gate=False, asset=PASSED)
    assert sensor.outlets == [AssetAlias("modelred-passed:sensor_model_passed")]
    ti = FakeTI()
    context = make_context(ti=ti)
    result = _poke_until_done(sensor, context)
    summary = result.xcom_value
    assert summary["assessment_id"] == aid and summary["model"] == "llama-weak"
    assert summary["gate"]["passed"] is False and "is below min_score=70" in summary["gate"]["reasons"][0]
    assert ti.xcom["assessment_summary"] == summary
    assert dict(context["outlet_events"]) == {}, "no asset event for a model that did not pass"

    # The default still fails the task on the same verdict.
    with pytest.raises(ModelRedQualityGateError):
        _poke_until_done(_sensor(aid, asset=PASSED), make_context())


def test_a_failed_assessment_still_fails(modelred_emulator, modelred_connection) -> None:
    aid = _launch("broken-endpoint")
    with pytest.raises(ModelRedAssessmentFailedError):
        _poke_until_done(_sensor(aid, fail_on_gate=False), make_context())


def test_fail_on_gate_must_be_a_flag() -> None:
    with pytest.raises(ValueError, match="fail_on_gate"):
        _sensor("asm_1", fail_on_gate="no")
