"""ModelRedAssessmentTrigger against the emulator over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import time

import pytest

from modelred_provider.api.vocabulary import ApiGeneration
from modelred_provider.hooks.modelred import ModelRedHook
from modelred_provider.triggers.assessment import ModelRedAssessmentTrigger

# Short assessments keep the suite fast; the waits below are sized for them.
pytestmark = pytest.mark.modelred_emulator(assessment_seconds=1.0)

RESOURCES_GET = "/api/assessments/*"


def _out(capfd) -> str:
    captured = capfd.readouterr()
    return captured.out + captured.err


def _launch(conn_id: str, model: str, *, v2: bool = False) -> str:
    hook = ModelRedHook(modelred_conn_id=conn_id)
    try:
        if v2:
            packs = hook.list_probe_packs()
            return hook.create_assessment(model, probe_pack_ids=[packs[0].id]).id
        keys = [p.key for p in hook.get_probes().probes[:3]]
        return hook.create_assessment(model, test_types=keys).id
    finally:
        hook.close()


def _trigger(assessment_id: str, conn_id: str, **kwargs) -> ModelRedAssessmentTrigger:
    kwargs.setdefault("poll_interval", 0.2)
    kwargs.setdefault("deadline", time.time() + 30)
    kwargs.setdefault("retry_budget", 3)
    return ModelRedAssessmentTrigger(assessment_id=assessment_id, modelred_conn_id=conn_id, **kwargs)


async def _collect(trigger: ModelRedAssessmentTrigger) -> list:
    try:
        return [event async for event in trigger.run()]
    finally:
        await trigger.cleanup()


def _events(trigger: ModelRedAssessmentTrigger) -> list:
    return asyncio.run(_collect(trigger))


@pytest.mark.parametrize(
    ("model", "reason", "status"),
    [("gpt-4o-prod", "completed", "success"), ("broken-endpoint", "failed", "error")],
)
def test_one_event_per_terminal_status(modelred_emulator, modelred_connection, model, reason, status):
    aid = _launch(modelred_connection, model)
    events = _events(_trigger(aid, modelred_connection))
    assert len(events) == 1
    payload = events[0].payload
    assert payload["reason"] == reason and payload["status"] == status
    assert payload["assessment_id"] == aid
    assert payload["assessment_status"] == reason.upper()


def test_cancelled_in_the_ui_while_waiting(modelred_emulator, modelred_connection):
    aid = _launch(modelred_connection, "stuck-model")

    async def scenario():
        task = asyncio.ensure_future(_collect(_trigger(aid, modelred_connection)))
        await asyncio.sleep(0.5)
        await asyncio.to_thread(modelred_emulator.cancel_assessment, aid)
        return await task

    (event,) = asyncio.run(scenario())
    assert event.payload["reason"] == "cancelled" and event.payload["assessment_status"] == "CANCELLED"


def test_deadline_gives_a_timeout_event(modelred_emulator, modelred_connection):
    aid = _launch(modelred_connection, "stuck-model")
    started = time.monotonic()
    (event,) = _events(_trigger(aid, modelred_connection, deadline=time.time() + 1.0))
    assert event.payload["reason"] == "timeout" and event.payload["assessment_status"] == "QUEUED"
    assert time.monotonic() - started < 10
    # Waiting is GET-only: the trigger never cancels, even on timeout (the operator decides that).
    assert modelred_emulator.count("PATCH", "/api/v2/assessments/{id}") == 0


def test_five_503s_then_success_ends_in_success(modelred_emulator, modelred_connection):
    aid = _launch(modelred_connection, "gpt-4o-prod")
    modelred_emulator.inject_fault("GET", f"/api/assessments/{aid}", kind="status", status=503, count=5)
    (event,) = _events(_trigger(aid, modelred_connection, retry_budget=5))
    assert event.payload["reason"] == "completed"
    assert modelred_emulator.count("GET", "/api/assessments/{id}") >= 6


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "drop", "count": 6},
        {"kind": "html", "status": 502, "count": 6},
        {"kind": "status", "status": 429, "retry_after": 0.2, "count": 6},
    ],
)
def test_other_transient_faults_are_ridden_out(modelred_emulator, modelred_connection, fault):
    aid = _launch(modelred_connection, "gpt-4o-prod")
    modelred_emulator.inject_fault("GET", f"/api/assessments/{aid}", **fault)
    (event,) = _events(_trigger(aid, modelred_connection, retry_budget=6))
    assert event.payload["reason"] == "completed"


def test_exhausted_budget_gives_one_error_event(modelred_emulator, modelred_connection):
    aid = _launch(modelred_connection, "gpt-4o-prod")
    modelred_emulator.inject_fault("GET", f"/api/assessments/{aid}", kind="status", status=503, count=1000)
    (event,) = _events(_trigger(aid, modelred_connection, retry_budget=1))
    assert event.payload["reason"] == "error" and event.payload["status"] == "error"
    assert "retry_budget=1" in event.payload["message"]


def test_permanent_error_ends_at_once(modelred_emulator, modelred_connection):
    (event,) = _events(_trigger("does-not-exist", modelred_connection, retry_budget=5))
    assert event.payload["reason"] == "error" and "permanent" in event.payload["message"]
    assert modelred_emulator.count("GET", "/api/assessments/{id}") == 1


def test_serialize_holds_no_secret_and_rebuild_mid_wait_keeps_the_deadline(
    modelred_emulator, modelred_connection
):
    # A long assessment, ended by hand after the restart: however loaded the machine, the first
    # trigger is still waiting when it is cancelled.
    modelred_emulator.assessment_seconds = 600
    aid = _launch(modelred_connection, "gpt-4o-prod")
    deadline = time.time() + 30
    first = _trigger(aid, modelred_connection, deadline=deadline)
    classpath, kwargs = first.serialize()
    assert classpath == "modelred_provider.triggers.assessment.ModelRedAssessmentTrigger"
    assert set(kwargs) == {
        "assessment_id",
        "modelred_conn_id",
        "api_generation",
        "poll_interval",
        "deadline",
        "retry_budget",
        "cancel_on_kill",
    }
    assert modelred_emulator.api_key not in repr(kwargs)

    async def restart_mid_wait():
        # The triggerer stops (restart, redistribution): the run is cancelled mid-wait.
        task = asyncio.ensure_future(_collect(first))
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(restart_mid_wait())
    assert first._hook is None  # cleanup released the HTTP client
    # Nothing was cancelled: the assessment is still going and no cancel request was sent.
    assert modelred_emulator.count("PATCH", "/api/v2/assessments/{id}") == 0
    rebuilt = ModelRedAssessmentTrigger(**kwargs)
    assert rebuilt.deadline == deadline
    modelred_emulator.complete_assessment(aid)
    (event,) = _events(rebuilt)
    assert event.payload["reason"] == "completed"


def test_on_kill_cancels_best_effort_and_never_raises(modelred_emulator, modelred_connection, capfd):
    aid = _launch(modelred_connection, "stuck-model", v2=True)
    trigger = _trigger(aid, modelred_connection, api_generation=ApiGeneration.V2.value)
    asyncio.run(trigger.on_kill())
    # v2 with an API key: the PATCH was sent, refused with 403, and reported as a warning.
    assert modelred_emulator.count("PATCH", "/api/v2/assessments/{id}") == 1
    out = _out(capfd)  # read once: a second readouterr() would be empty
    assert "cancel it in the ModelRed UI" in out
    assert modelred_emulator.api_key not in out


def test_on_kill_of_a_watched_assessment_cancels_nothing(modelred_emulator, modelred_connection):
    aid = _launch(modelred_connection, "stuck-model", v2=True)
    trigger = _trigger(aid, modelred_connection, api_generation="v2", cancel_on_kill=False)
    asyncio.run(trigger.on_kill())
    assert modelred_emulator.count("PATCH", "/api/v2/assessments/{id}") == 0


def test_missing_connection_gives_one_error_event(modelred_emulator):
    (event,) = _events(_trigger("a1", "no_such_connection"))
    assert event.payload["reason"] == "error"
    assert "no_such_connection" in event.payload["message"]
