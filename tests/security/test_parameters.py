"""Issue 9, items 7 and 3: parameters are refused at DAG parse when they would break the wait, and
the wait has a finite default.

NaN compares false with everything, so a NaN poll interval never sleeps (it sent 1,369 GETs in 5 s)
and a NaN timeout or deadline never passes; infinity never ends; ``True`` is not a number of seconds;
a whitespace-only model names nothing. Each is refused by the operator's and the sensor's
``__init__`` (what the DAG processor runs), naming the parameter, and by the trigger's constructor
(it is rebuilt from serialized kwargs, so it checks them again).
"""

from __future__ import annotations

import math
import time
from datetime import timedelta

import pytest
from airflow.sdk.exceptions import TaskDeferred

from modelred_provider.operators.assessment import ModelRedAssessmentOperator
from modelred_provider.sensors.assessment import ModelRedAssessmentSensor
from modelred_provider.triggers.assessment import ModelRedAssessmentTrigger
from modelred_provider.waiting.parameters import DEFAULT_ASSESSMENT_TIMEOUT
from modelred_provider.waiting.policy import PollPolicy
from tests.task_context import make_context

KEY = "mr_s3cr3t_kEy_9f8e7d6c"
BAD_NUMBERS = [math.nan, -math.nan, math.inf, -math.inf, True, False, 10**400]
SIX_HOURS = 6 * 60 * 60


def _op(**kwargs):
    base = {"task_id": "t", "model": "gpt-4o-prod", "test_types": ["dan"]}
    return ModelRedAssessmentOperator(**{**base, **kwargs})


def _sensor(**kwargs):
    return ModelRedAssessmentSensor(**{"task_id": "s", "assessment_id": "a1", **kwargs})


@pytest.mark.parametrize("param", ["poll_interval", "timeout"])
@pytest.mark.parametrize("value", BAD_NUMBERS, ids=repr)
def test_operator_refuses_non_finite_or_boolean_seconds(param, value):
    with pytest.raises(ValueError) as info:
        _op(**{param: value})
    assert f"{param}={value!r}" in str(info.value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, True, False, "nan", "inf", "NaN"], ids=repr)
def test_min_score_refuses_nan_infinity_and_booleans(value):
    with pytest.raises(ValueError) as info:
        _op(min_score=value)
    assert f"min_score={value!r}" in str(info.value)
    with pytest.raises(ValueError, match="min_score"):
        _sensor(min_score=value)


@pytest.mark.parametrize("model", ["", " ", "   ", "\t\n", None, 42])
def test_operator_refuses_a_model_that_names_nothing(model):
    with pytest.raises(ValueError) as info:
        _op(model=model)
    assert f"model={model!r}" in str(info.value)


def test_a_rendered_whitespace_model_is_refused_when_the_task_runs():
    op = _op(model="{{ params.model }}")  # fine at parse: a template
    op.model = "  "  # what rendering produced
    with pytest.raises(ValueError, match="model='  '"):
        op.execute({})  # before touching the context or the service


@pytest.mark.parametrize("param", ["poke_interval", "timeout"])
@pytest.mark.parametrize("value", [*BAD_NUMBERS, 0, -1], ids=repr)
def test_sensor_refuses_non_finite_or_boolean_seconds(param, value):
    with pytest.raises(ValueError) as info:
        _sensor(**{param: value})
    assert f"{param}={value!r}" in str(info.value)


@pytest.mark.parametrize("assessment_id", ["", "  ", "\n", None])
def test_sensor_refuses_an_assessment_id_that_names_nothing(assessment_id):
    with pytest.raises(ValueError, match="assessment_id"):
        _sensor(assessment_id=assessment_id)


@pytest.mark.parametrize("value", [math.nan, math.inf, True, 0, -1], ids=repr)
def test_trigger_refuses_a_bad_poll_interval_even_when_rebuilt(value):
    with pytest.raises(ValueError, match="poll_interval"):
        ModelRedAssessmentTrigger("a1", "c", poll_interval=value)
    # The triggerer rebuilds it from serialized kwargs: a tampered row is refused the same way.
    _, kwargs = ModelRedAssessmentTrigger("a1", "c", poll_interval=5, deadline=time.time() + 60).serialize()
    with pytest.raises(ValueError, match="poll_interval"):
        ModelRedAssessmentTrigger(**{**kwargs, "poll_interval": value})


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf], ids=repr)
def test_trigger_refuses_a_deadline_that_never_passes(value):
    with pytest.raises(ValueError, match="deadline"):
        ModelRedAssessmentTrigger("a1", "c", poll_interval=5, deadline=value)


def test_poll_policy_refuses_nan_as_the_last_line():
    with pytest.raises(ValueError, match="poll_interval"):
        PollPolicy("a1", poll_interval=math.nan, deadline=None, retry_budget=1)
    with pytest.raises(ValueError, match="deadline"):
        PollPolicy("a1", poll_interval=1, deadline=math.nan, retry_budget=1)


def test_good_values_still_pass():
    op = _op(poll_interval=0.5, timeout=timedelta(minutes=5), min_score="70", model=" gpt-4o-prod ")
    assert (op.poll_interval, op.timeout) == (0.5, 300.0)
    sensor = _sensor(poke_interval=timedelta(seconds=2), timeout=90)
    assert (sensor.poke_interval, sensor.timeout) == (2.0, 90.0)
    assert ModelRedAssessmentTrigger("a1", "c", poll_interval=1, deadline=None).deadline is None
    assert _op(timeout=None).timeout is None  # explicitly no deadline of its own: still allowed


# --------------------------------------------------------------------------- the finite default wait


def test_the_default_timeout_is_six_hours_for_both():
    assert DEFAULT_ASSESSMENT_TIMEOUT == SIX_HOURS
    assert _op().timeout == SIX_HOURS
    assert _sensor().timeout == SIX_HOURS  # not Airflow's 7 days
    assert _sensor(timeout=None).timeout == SIX_HOURS


def test_default_args_still_set_the_sensor_timeout():
    from airflow.sdk import DAG

    with DAG("mr_default_args", default_args={"timeout": 120, "poke_interval": 7}):
        sensor = _sensor()
        op = _op()
    assert (sensor.timeout, sensor.poke_interval, op.timeout) == (120.0, 7.0, 120.0)


def test_the_default_deadline_reaches_the_trigger(modelred_emulator, modelred_connection):
    # A stuck assessment: the operator defers, and the trigger's deadline is the default six hours away.
    op = _op(
        modelred_conn_id=modelred_connection,
        model="stuck-model",
        test_types=["reverse_psychology"],  # a key of the emulator's catalogue
        deferrable=True,
        poll_interval=1,
    )
    before = time.time()
    with pytest.raises(TaskDeferred) as info:
        op.execute(make_context())
    deadline = info.value.trigger.deadline
    assert before + SIX_HOURS <= deadline <= time.time() + SIX_HOURS


def test_the_default_deadline_reaches_the_sensors_trigger(modelred_emulator, modelred_connection):
    from modelred_provider.hooks.modelred import ModelRedHook

    hook = ModelRedHook(modelred_conn_id=modelred_connection)
    try:
        aid = hook.create_assessment(
            "stuck-model", test_types=[p.key for p in hook.get_probes().probes[:1]]
        ).id
    finally:
        hook.close()
    sensor = _sensor(
        modelred_conn_id=modelred_connection, assessment_id=aid, deferrable=True, poke_interval=1
    )
    context = make_context()
    with pytest.raises(TaskDeferred) as info:
        sensor.execute(context)
    start = context["ti"].start_date.timestamp()
    assert info.value.trigger.deadline == pytest.approx(start + SIX_HOURS, abs=1)
