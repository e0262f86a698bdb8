"""Issue 9, item 8: a status the contract does not list (``PAUSED``) is read as QUEUED so the wait goes
on, but it is said: one warning per wait and raw value, in the in-process wait's, the sensor's and the
trigger's log; the raw status in the summary; and the deadline still ends the wait. Real HTTP against
a scripted server that answers PAUSED forever."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowSensorTimeout

from modelred_provider.api import parsing
from modelred_provider.api.models import Assessment, AssessmentStatus
from modelred_provider.exceptions import ModelRedAssessmentError, ModelRedAssessmentTimeoutError
from modelred_provider.operators.assessment import ModelRedAssessmentOperator
from modelred_provider.operators.summary import build_summary, render_report
from modelred_provider.sensors.assessment import ModelRedAssessmentSensor
from modelred_provider.triggers.assessment import ModelRedAssessmentTrigger
from modelred_provider.waiting.policy import PollPolicy
from tests.hook.servers import scripted_server

from .test_gate_fails_closed import SECRET, hostile_server_script, set_connection, task_context

WARNING = "is not a ModelRed status"


def _parse(status: Any) -> Assessment:
    return parsing.parse_assessment({"id": "a1", "status": status})


@pytest.mark.parametrize(
    ("status", "read_as", "raw", "recognised"),
    [
        ("PAUSED", AssessmentStatus.QUEUED, "PAUSED", False),
        ("on_hold", AssessmentStatus.QUEUED, "on_hold", False),
        (None, AssessmentStatus.QUEUED, None, False),
        ({"state": "RUNNING"}, AssessmentStatus.QUEUED, None, False),
        (" running ", AssessmentStatus.RUNNING, " running ", True),
        ("Canceled", AssessmentStatus.CANCELLED, "Canceled", True),
        ("IN_PROGRESS", AssessmentStatus.RUNNING, "IN_PROGRESS", True),
        ("COMPLETED", AssessmentStatus.COMPLETED, "COMPLETED", True),
    ],
)
def test_the_raw_status_is_kept_beside_what_it_was_read_as(status, read_as, raw, recognised):
    assessment = _parse(status)
    assert (assessment.status, assessment.status_raw, assessment.status_recognised) == (
        read_as,
        raw,
        recognised,
    )


def test_a_huge_status_is_trimmed():
    assessment = _parse("P" * 10_000)
    assert assessment.status_raw is not None and len(assessment.status_raw) < 100
    assert not assessment.status_recognised


def test_the_policy_warns_once_per_raw_value_and_the_timeout_names_it():
    policy = PollPolicy("a1", poll_interval=0.01, deadline=time.time() + 0.05, retry_budget=1)
    paused = _parse("PAUSED")
    warnings = [policy.on_assessment(paused).warning for _ in range(5)]
    assert len([w for w in warnings if w]) == 1 and "'PAUSED'" in str(warnings[0])
    assert policy.on_assessment(_parse("SUSPENDED")).warning  # a new raw value is said too
    assert policy.on_assessment(_parse("RUNNING")).warning is None
    time.sleep(0.06)
    event = policy.on_assessment(paused).event
    assert event is not None and event["reason"] == "timeout"
    assert "'PAUSED' (read as QUEUED)" in event["message"]
    assert event["assessment_status"] == "QUEUED"


def test_summary_shows_the_raw_status():
    summary = build_summary(_parse("Canceled"), url=None, model="m", gate=None)
    assert (summary["status"], summary["status_raw"]) == ("CANCELLED", "Canceled")
    paused = _parse("PAUSED")
    summary = build_summary(paused, url=None, model="m", gate=None)
    assert (summary["status"], summary["status_raw"]) == ("QUEUED", "PAUSED")
    assert "QUEUED (the server said 'PAUSED')" in render_report(paused, summary)
    done = _parse("COMPLETED")
    assert "the server said" not in render_report(done, build_summary(done, url=None, model="m", gate=None))


def _paused_forever():
    """Launch answers QUEUED; every later GET of the assessment answers PAUSED."""
    script = hostile_server_script({"id": "a1", "status": "PAUSED", "progress": 10})
    queued = json.dumps({"data": {"id": "a1", "status": "QUEUED", "progress": 0}}).encode()
    script.routes["/api/assessments"] = (201, queued, {})
    return script


def _warnings(text: str) -> list[str]:
    return [line for line in text.splitlines() if WARNING in line]


def _gets(script) -> int:
    return sum(
        1 for r in script.received if r["method"] == "GET" and r["path"].startswith("/api/assessments/")
    )


def test_operator_waits_through_paused_warns_once_and_times_out(monkeypatch, capfd, caplog):
    script = _paused_forever()
    with scripted_server(script) as origin:
        op = ModelRedAssessmentOperator(
            task_id="assess",
            modelred_conn_id=set_connection(monkeypatch, origin),
            model="gpt-4o-prod",
            test_types=["dan"],
            deferrable=False,
            poll_interval=0.1,
            timeout=1.5,
        )
        started = time.monotonic()
        with pytest.raises(ModelRedAssessmentTimeoutError) as info:
            op.execute(task_context())
        elapsed = time.monotonic() - started
    assert elapsed < 10  # the deadline ended it
    assert _gets(script) >= 5  # it did keep waiting, PAUSED after PAUSED
    assert "'PAUSED' (read as QUEUED)" in str(info.value)
    captured = capfd.readouterr()
    out = captured.out + captured.err + caplog.text
    (warning,) = set(_warnings(out))  # one message...
    assert len(re.findall(WARNING, captured.out + captured.err)) == 1  # ...said once
    assert "'PAUSED'" in warning and "a1" in warning
    for text in (out, str(info.value)):
        assert SECRET not in text


def test_sensor_poke_warns_once_and_times_out(monkeypatch, capfd):
    script = _paused_forever()
    with scripted_server(script) as origin:
        sensor = ModelRedAssessmentSensor(
            task_id="watch",
            modelred_conn_id=set_connection(monkeypatch, origin),
            assessment_id="a1",
            poke_interval=0.1,
            timeout=1.0,
        )
        with pytest.raises(AirflowSensorTimeout):  # Airflow's poke loop ends it (ours in deferrable mode)
            sensor.execute(task_context())
    assert _gets(script) >= 3
    captured = capfd.readouterr()
    warnings = _warnings(captured.out + captured.err)
    assert len(warnings) == 1 and "'PAUSED'" in warnings[0]
    assert SECRET not in captured.out + captured.err


def test_trigger_warns_once_and_its_deadline_ends_the_wait(monkeypatch, capfd):
    script = _paused_forever()
    with scripted_server(script) as origin:
        trigger = ModelRedAssessmentTrigger(
            "a1", set_connection(monkeypatch, origin), poll_interval=0.1, deadline=time.time() + 1.5
        )

        async def collect() -> list:
            try:
                return [event async for event in trigger.run()]
            finally:
                await trigger.cleanup()

        (event,) = asyncio.run(asyncio.wait_for(collect(), 20))
    assert event.payload["reason"] == "timeout"
    assert "'PAUSED' (read as QUEUED)" in event.payload["message"]
    assert _gets(script) >= 5
    captured = capfd.readouterr()
    warnings = _warnings(captured.out + captured.err)
    assert len(warnings) == 1 and "'PAUSED'" in warnings[0]
    assert SECRET not in captured.out + captured.err + json.dumps(event.payload)


def test_an_alias_ends_the_wait_and_stays_visible_as_raw(monkeypatch, capfd):
    script = hostile_server_script({"id": "a1", "status": "Canceled", "progress": 40})
    queued = json.dumps({"data": {"id": "a1", "status": "QUEUED"}}).encode()
    script.routes["/api/assessments"] = (201, queued, {})
    with scripted_server(script) as origin:
        op = ModelRedAssessmentOperator(
            task_id="assess",
            modelred_conn_id=set_connection(monkeypatch, origin),
            model="gpt-4o-prod",
            test_types=["dan"],
            deferrable=False,
            poll_interval=0.1,
            timeout=10,
        )
        context = task_context()
        with pytest.raises(ModelRedAssessmentError) as info:
            op.execute(context)
    assert info.value.reason == "cancelled"
    summary = context["ti"].xcom["assessment_summary"]
    assert (summary["status"], summary["status_raw"]) == ("CANCELLED", "Canceled")
    assert info.value.summary == summary
    captured = capfd.readouterr()
    assert _warnings(captured.out + captured.err) == []  # a known alias is no surprise
    assert SECRET not in captured.out + captured.err + json.dumps(summary)
