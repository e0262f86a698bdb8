"""ModelRedAssessmentTrigger grouped by Airflow 3.3's SharedStreamManager, against the emulator over HTTP.

Each trigger is driven as ``TriggerRunner.run_trigger`` drives a trigger whose ``shared_stream_key`` is
not None: ``manager.subscribe`` -> ``filter_shared_stream`` -> ``manager.unsubscribe`` -> ``cleanup``.
"""

from __future__ import annotations

import asyncio
import math
import time

import pytest
from airflow.triggers.base import BaseEventTrigger
from airflow.triggers.shared_stream import SharedStreamManager

from modelred_provider.api.models import Assessment, AssessmentStatus
from modelred_provider.hooks import _transport_async
from modelred_provider.hooks.modelred import ModelRedHook
from modelred_provider.triggers import shared
from modelred_provider.triggers.assessment import ModelRedAssessmentTrigger

# Long enough that every trigger is waiting before the first assessment ends.
pytestmark = pytest.mark.modelred_emulator(assessment_seconds=3.0)

INTERVAL = 1.0
LIST = "/api/assessments"
GET_ONE = "/api/assessments/{id}"


def _launch(conn_id: str, models: list[str], *, v2: bool = False) -> list[str]:
    hook = ModelRedHook(modelred_conn_id=conn_id)
    try:
        if v2:
            packs = [hook.list_probe_packs()[0].id]
            return [hook.create_assessment(m, probe_pack_ids=packs).id for m in models]
        keys = [p.key for p in hook.get_probes().probes[:2]]
        return [hook.create_assessment(m, test_types=keys).id for m in models]
    finally:
        hook.close()


def _trigger(aid: str, conn_id: str, **kwargs) -> ModelRedAssessmentTrigger:
    kwargs.setdefault("poll_interval", INTERVAL)
    kwargs.setdefault("deadline", time.time() + 60)
    kwargs.setdefault("retry_budget", 3)
    return ModelRedAssessmentTrigger(assessment_id=aid, modelred_conn_id=conn_id, **kwargs)


async def _run_grouped(manager: SharedStreamManager, trigger_id: int, trigger: ModelRedAssessmentTrigger):
    key = trigger.shared_stream_key()
    assert key is not None
    stream = manager.subscribe(trigger_id=trigger_id, trigger=trigger, key=key)
    try:
        return [event async for event in trigger.filter_shared_stream(stream)]
    finally:
        await manager.unsubscribe(trigger_id, key)
        await trigger.cleanup()


async def _group(triggers: list[ModelRedAssessmentTrigger]) -> list[list]:
    manager = SharedStreamManager()
    results = await asyncio.gather(*(_run_grouped(manager, i, t) for i, t in enumerate(triggers, 1)))
    # The group ended with its last trigger: its loop stopped and no HTTP session is left open.
    assert manager._groups == {}
    await asyncio.sleep(0)
    assert _transport_async.open_sessions() == 0
    return results


def _reasons(results: list[list]) -> list[str]:
    assert all(len(events) == 1 for events in results), results
    return [events[0].payload["reason"] for events in results]


def test_the_trigger_opts_into_sharing_but_keeps_its_queue():
    trigger = _trigger("a1", "modelred_default")
    assert isinstance(trigger, BaseEventTrigger)
    assert trigger.supports_triggerer_queue is True  # BaseEventTrigger would turn the task's queue off
    assert trigger.shared_stream_key() == _trigger("a2", "modelred_default").shared_stream_key()
    assert trigger.shared_stream_key() != _trigger("a1", "other").shared_stream_key()
    assert (
        trigger.shared_stream_key()
        != _trigger("a1", "modelred_default", api_generation="v2").shared_stream_key()
    )
    assert (
        trigger.shared_stream_key() != _trigger("a1", "modelred_default", poll_interval=2).shared_stream_key()
    )
    assert _trigger("a1", "modelred_default", poll_interval=0.5).shared_stream_key() is None


def test_grouped_triggers_share_one_list_per_interval_with_mixed_outcomes(
    modelred_emulator, modelred_connection
):
    models = ["gpt-4o-prod", "broken-endpoint", "stuck-model", "claude-safe", "stuck-model"]
    ids = _launch(modelred_connection, models)
    modelred_emulator.reset_counts()

    async def scenario():
        task = asyncio.ensure_future(_group([_trigger(a, modelred_connection) for a in ids]))
        await asyncio.sleep(2.0)
        await asyncio.to_thread(modelred_emulator.cancel_assessment, ids[2])
        await asyncio.sleep(2.0)
        await asyncio.to_thread(modelred_emulator.complete_assessment, ids[4])
        return await task

    started = time.monotonic()
    results = asyncio.run(scenario())
    elapsed = time.monotonic() - started
    assert _reasons(results) == ["completed", "failed", "cancelled", "completed", "completed"]
    assert [events[0].payload["assessment_id"] for events in results] == ids
    lists = modelred_emulator.count("GET", LIST)
    own = modelred_emulator.count("GET", GET_ONE)
    # One list per interval for the whole group; own GETs only to carry each final assessment in its
    # event (a late list may add one), where standalone triggers would have sent about 5 x elapsed GETs.
    assert 3 <= lists <= math.ceil(elapsed / INTERVAL) + 1
    assert len(ids) <= own <= 2 * len(ids)
    assert modelred_emulator.count("PATCH", "/api/v2/assessments/{id}") == 0  # waiting is GET-only


def test_a_group_starts_on_its_round_and_lists_deeper_at_once_instead_of_own_gets(
    modelred_emulator, modelred_connection, monkeypatch
):
    """Thousands of triggers taken up at once (issue 14) must not each send a GET: a trigger's first
    check is the group's first round, and a full list that missed waiting assessments (newer ones
    nobody waits on pushed them down) is followed at once by one twice as deep, in the same round."""
    monkeypatch.setattr(shared, "LIST_MARGIN", 0)  # the first list: exactly as many as wait (4)
    waiting = []
    for _ in range(4):  # each waiting assessment followed by a newer one nobody waits on
        waiting += _launch(modelred_connection, ["stuck-model"])
        _launch(modelred_connection, ["stuck-model"])
    modelred_emulator.reset_counts()

    async def scenario():
        task = asyncio.ensure_future(_group([_trigger(a, modelred_connection) for a in waiting]))
        await asyncio.sleep(INTERVAL / 2)  # the first round is over, the second not yet due
        at_start = (modelred_emulator.count("GET", LIST), modelred_emulator.count("GET", GET_ONE))
        for aid in waiting:
            await asyncio.to_thread(modelred_emulator.complete_assessment, aid)
        return at_start, await task

    (lists, own), results = asyncio.run(scenario())
    assert (lists, own) == (2, 0), "the first round: a list of 4, then one of 8 at once; no own GET"
    assert _reasons(results) == ["completed"] * 4
    # Afterwards only the GET that carries each final assessment in its event.
    assert modelred_emulator.count("GET", GET_ONE) == len(waiting)


def test_a_trigger_missing_from_a_capped_list_gets_its_event_by_its_own_get(
    modelred_emulator, modelred_connection, monkeypatch
):
    # The server (here: our limit) lists only the two newest assessments: the three older ones are
    # never in the shared answer.
    monkeypatch.setattr(shared, "LIST_MARGIN", 0)
    monkeypatch.setattr(shared, "MAX_LIST_LIMIT", 2)
    ids = _launch(
        modelred_connection, ["gpt-4o-prod", "broken-endpoint", "gpt-4o-prod", "claude-safe", "gpt-4o-prod"]
    )
    modelred_emulator.reset_counts()
    results = asyncio.run(_group([_trigger(a, modelred_connection) for a in ids]))
    assert _reasons(results) == ["completed", "failed", "completed", "completed", "completed"]
    assert modelred_emulator.count("GET", LIST) >= 2
    # The three unlisted ones polled on their own (first check + at least two more each).
    assert modelred_emulator.count("GET", GET_ONE) >= len(ids) + 3 * 2


def test_a_failing_list_falls_back_to_each_triggers_own_get(modelred_emulator, modelred_connection):
    ids = _launch(modelred_connection, ["gpt-4o-prod", "broken-endpoint", "claude-safe"])
    modelred_emulator.reset_counts()
    modelred_emulator.inject_fault("GET", LIST, kind="status", status=500, count=None)
    results = asyncio.run(_group([_trigger(a, modelred_connection) for a in ids]))
    assert _reasons(results) == ["completed", "failed", "completed"]
    assert modelred_emulator.count("GET", LIST) >= 2
    # Told to read their own each round: first check + at least one more each (paced, not a burst).
    assert modelred_emulator.count("GET", GET_ONE) >= len(ids) * 2


def test_an_own_read_that_did_not_end_the_wait_is_not_what_a_later_list_carries(
    modelred_emulator, modelred_connection
):
    (aid,) = _launch(modelred_connection, ["gpt-4o-prod"])
    modelred_emulator.reset_counts()
    # The first round fails, so the trigger reads its own (still running); the assessment then ends and a
    # later list tells it: the event carries the COMPLETED assessment, not the running one it read itself.
    modelred_emulator.inject_fault("GET", LIST, kind="status", status=500, count=1)
    ((event,),) = asyncio.run(_group([_trigger(aid, modelred_connection)]))
    assert modelred_emulator.count("GET", GET_ONE) >= 1
    assert event.payload["reason"] == "completed"
    assert event.payload["assessment"]["status"] == "COMPLETED"


def test_v2_triggers_share_the_unfinished_lists(modelred_emulator, modelred_connection):
    ids = _launch(modelred_connection, ["gpt-4o-prod", "broken-endpoint", "claude-safe"], v2=True)
    modelred_emulator.reset_counts()
    trigs = [_trigger(a, modelred_connection, api_generation="v2") for a in ids]
    results = asyncio.run(_group(trigs))
    assert _reasons(results) == ["completed", "failed", "completed"]
    # Each round lists QUEUED and RUNNING (one page each here): two requests per interval.
    assert modelred_emulator.count("GET", "/api/v2/assessments") >= 4
    # Own GETs: each trigger's first check, and one when its assessment left the unfinished lists
    # (that read also gives the event its final assessment: no third GET).
    assert modelred_emulator.count("GET", "/api/v2/assessments/{id}") <= 2 * len(ids)
    assert all(
        "report" in e[0].payload["assessment"] for e in results if e[0].payload["reason"] == "completed"
    )


def test_deadline_in_a_group_gives_a_timeout_event(modelred_emulator, modelred_connection):
    (aid,) = _launch(modelred_connection, ["stuck-model"])
    started = time.monotonic()
    (events,) = asyncio.run(_group([_trigger(aid, modelred_connection, deadline=time.time() + 2.5)]))
    assert [e.payload["reason"] for e in events] == ["timeout"]
    assert events[0].payload["assessment_status"] == "QUEUED"
    assert time.monotonic() - started < 2.5 + 2 * INTERVAL


def test_cancelled_grouped_trigger_reraises_and_cancels_nothing(modelred_emulator, modelred_connection):
    ids = _launch(modelred_connection, ["stuck-model", "stuck-model"], v2=True)
    trigs = [_trigger(a, modelred_connection, api_generation="v2") for a in ids]

    async def scenario():
        task = asyncio.ensure_future(_group(trigs))
        await asyncio.sleep(1.5)
        task.cancel()  # the triggerer stops or moves the triggers
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.1)
        return _transport_async.open_sessions()

    assert asyncio.run(scenario()) == 0  # the group's loop and each trigger released their sessions
    assert all(t._hook is None for t in trigs)
    assert modelred_emulator.count("PATCH", "/api/v2/assessments/{id}") == 0


def test_a_broken_group_stream_leaves_the_trigger_on_its_own_gets(modelred_emulator, modelred_connection):
    (aid,) = _launch(modelred_connection, ["gpt-4o-prod"])

    async def broken_stream():
        await asyncio.sleep(0.2)
        raise RuntimeError("shared stream for the group ended")
        yield  # pragma: no cover

    async def scenario():
        trigger = _trigger(aid, modelred_connection)
        try:
            return [e async for e in trigger.filter_shared_stream(broken_stream())]
        finally:
            await trigger.cleanup()

    (event,) = asyncio.run(scenario())
    assert event.payload["reason"] == "completed"
    assert modelred_emulator.count("GET", GET_ONE) >= 3


def test_a_missing_connection_in_a_group_gives_one_error_event(modelred_emulator):
    results = asyncio.run(
        _group([_trigger("a1", "no_such_connection"), _trigger("a2", "no_such_connection")])
    )
    assert _reasons(results) == ["error", "error"]
    assert all("no_such_connection" in events[0].payload["message"] for events in results)


# --------------------------------------------------------------------------- the switch: shared on / off


async def _as_the_triggerer_runs(triggers: list[ModelRedAssessmentTrigger]) -> list[list]:
    """As ``TriggerRunner.run_trigger`` decides: grouped when ``shared_stream_key()`` is not None, else
    ``run()``."""
    manager = SharedStreamManager()

    async def one(trigger_id: int, trigger: ModelRedAssessmentTrigger) -> list:
        if trigger.shared_stream_key() is not None:
            return await _run_grouped(manager, trigger_id, trigger)
        try:
            return [event async for event in trigger.run()]
        finally:
            await trigger.cleanup()

    results = await asyncio.gather(*(one(i, t) for i, t in enumerate(triggers, 1)))
    assert manager._groups == {}
    await asyncio.sleep(0)
    assert _transport_async.open_sessions() == 0
    return results


def _same_shape(results: list[list], ids: list[str]) -> list[dict]:
    """The events with each trigger's assessment id written ``<id>`` (the runs wait on different ones)."""
    shaped = []
    for events, aid in zip(results, ids, strict=True):
        assert len(events) == 1, events
        payload = dict(events[0].payload)
        payload["assessment_id"] = payload["assessment_id"].replace(aid, "<id>")
        payload["message"] = payload["message"].replace(aid, "<id>")
        shaped.append(payload)
    return shaped


def _run_with_switch(
    emulator, conn_id: str, monkeypatch, on: bool, ids: list[str], *, listed: bool = True, **kwargs
) -> list[dict]:
    """Run ``ids``' triggers with the switch ``on`` or off; their events, shaped alike. ``listed``: the
    group must have sent a list (False where the wait may end before the group's first round)."""
    monkeypatch.setenv("AIRFLOW__MODELRED__SHARED_STREAM", str(on))
    emulator.reset_counts()
    triggers = [_trigger(a, conn_id, **kwargs) for a in ids]
    assert all((t.shared_stream_key() is not None) is on for t in triggers)
    results = asyncio.run(_as_the_triggerer_runs(triggers))
    lists = emulator.count("GET", LIST)
    assert (lists >= 1 or not listed) if on else lists == 0  # off: no list at all, each trigger's own GETs
    return _same_shape(results, ids)


def test_the_shared_stream_switch_defaults_on_and_turns_grouping_off(monkeypatch):
    monkeypatch.delenv("AIRFLOW__MODELRED__SHARED_STREAM", raising=False)
    assert _trigger("a1", "modelred_default").shared_stream_key() is not None
    monkeypatch.setenv("AIRFLOW__MODELRED__SHARED_STREAM", "False")
    assert _trigger("a1", "modelred_default").shared_stream_key() is None
    # Serialized kwargs are unchanged: the switch is the triggerer's configuration, not the task's.
    assert "shared_stream" not in _trigger("a1", "modelred_default").serialize()[1]


async def _both_paths(triggers: list[tuple[ModelRedAssessmentTrigger, ModelRedAssessmentTrigger]]) -> tuple:
    """Each pair waits on one assessment: the first grouped (as the triggerer runs a trigger with a
    key), the second alone through ``run()`` (``[modelred] shared_stream = False``, ``dag.test()``)."""
    manager = SharedStreamManager()

    async def alone(trigger: ModelRedAssessmentTrigger) -> list:
        try:
            return [event async for event in trigger.run()]
        finally:
            await trigger.cleanup()

    grouped = asyncio.gather(*(_run_grouped(manager, i, g) for i, (g, _) in enumerate(triggers, 1)))
    standalone = asyncio.gather(*(alone(a) for _, a in triggers))
    results = await asyncio.gather(grouped, standalone)
    assert manager._groups == {}
    await asyncio.sleep(0)
    assert _transport_async.open_sessions() == 0
    return results[0], results[1]


def _payloads(results: list[list]) -> list[dict]:
    assert all(len(events) == 1 for events in results), results
    return [events[0].payload for events in results]


@pytest.mark.parametrize("v2", [False, True], ids=["resources", "v2"])
def test_shared_and_standalone_yield_identical_events_on_the_same_assessments(
    modelred_emulator, modelred_connection, v2
):
    # completed, failed, timeout (the deadline passes while queued), error (a permanent 404)
    ids = [*_launch(modelred_connection, ["gpt-4o-prod", "broken-endpoint", "stuck-model"], v2=v2)]
    ids.append("asm_missing_0001")
    deadline = time.time() + 6
    generation = "v2" if v2 else "resources"
    pairs = [
        tuple(_trigger(a, modelred_connection, deadline=deadline, api_generation=generation) for _ in "ab")
        for a in ids
    ]
    grouped, alone = asyncio.run(_both_paths(pairs))
    assert [p["reason"] for p in _payloads(grouped)] == ["completed", "failed", "timeout", "error"]
    assert _payloads(grouped) == _payloads(alone)
    # The ended ones carry the final assessment (report, or the server's error) for the task.
    completed, failed = _payloads(grouped)[:2]
    assert completed["assessment"]["status"] == "COMPLETED" and completed["assessment"]["report"]
    assert failed["assessment"]["status"] == "FAILED"
    assert all("assessment" not in p for p in _payloads(grouped)[2:])


@pytest.mark.parametrize("v2", [False, True], ids=["resources", "v2"])
def test_the_realistic_mix_waiting_among_newer_assessments_nobody_waits_on(
    modelred_emulator, modelred_connection, monkeypatch, v2
):
    # Waiting assessments interleaved with as many newer ones nobody waits on (another DAG, the UI),
    # and a resources-API window too small for them at first: it grows to reach the oldest.
    monkeypatch.setattr(shared, "LIST_MARGIN", 1)
    models = ["gpt-4o-prod", "claude-safe", "broken-endpoint", "gpt-4o-prod", "claude-safe", "gpt-4o-prod"]
    waiting: list[str] = []
    for model in models:
        waiting += _launch(modelred_connection, [model], v2=v2)
        _launch(modelred_connection, ["stuck-model"], v2=v2)  # newer, nobody waits on it
    generation = "v2" if v2 else "resources"
    deadline = time.time() + 30
    pairs = [
        tuple(_trigger(a, modelred_connection, deadline=deadline, api_generation=generation) for _ in "ab")
        for a in waiting
    ]
    modelred_emulator.reset_counts()
    grouped, alone = asyncio.run(_both_paths(pairs))
    expected = ["completed", "completed", "failed", "completed", "completed", "completed"]
    assert [p["reason"] for p in _payloads(grouped)] == expected
    assert _payloads(grouped) == _payloads(alone)


def test_a_round_wakes_only_the_triggers_whose_assessment_changed():
    group = shared.Group(5.0)
    subs = {aid: shared.Subscription(aid) for aid in ("a", "b", "c")}
    group.subscriptions = {aid: [sub] for aid, sub in subs.items()}
    running = Assessment(id="a", status=AssessmentStatus.RUNNING, progress=10)
    for sub in subs.values():
        sub.saw(running)
    moved = Assessment(id="b", status=AssessmentStatus.RUNNING, progress=20)
    woken, unseen = group.hand_out({"a": running, "b": moved})  # "c" left the list
    assert (woken, unseen) == (1, 1)
    assert subs["a"].take() is None  # unchanged: not woken
    assert subs["b"].take() is moved
    assert subs["c"].take() == shared.READ_YOURSELF
    assert group.hand_out(None) == (0, 3)  # a failed list: each reads its own


def test_shared_on_and_off_yield_the_same_event_when_the_budget_runs_out(
    modelred_emulator, modelred_connection, monkeypatch
):
    events = {}
    for on in (True, False):
        ids = _launch(modelred_connection, ["gpt-4o-prod"])
        # Every read fails with a transient 500: the list (shared) and the own GETs alike.
        modelred_emulator.inject_fault("GET", "/api/assessments*", kind="status", status=500, count=None)
        try:
            # The two failing own GETs (budget 1) may end the wait before the group's first round
            # lists: whether a list was sent is a race here, the event is not.
            events[on] = _run_with_switch(
                modelred_emulator, modelred_connection, monkeypatch, on, ids, listed=False, retry_budget=1
            )
        finally:
            modelred_emulator.clear_faults()
    assert [e["reason"] for e in events[True]] == ["error"]
    assert "2 transient errors in a row (retry_budget=1)" in events[True][0]["message"]
    assert events[True] == events[False]
