"""The launch record in the task state store: written before the POST, replaced by the id, and a retry
that finds an unfinished launch adopts what it created instead of launching a second assessment.

Over real HTTP with the emulator; the task state store is the stand-in of ``tests/task_context.py``
(the real one, through real Airflow and killed workers, is ``tests/e2e/test_launch_kills.py``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from modelred_provider.api.errors import ModelRedError, ModelRedServerError
from modelred_provider.operators.assessment import STATE_KEY, ModelRedAssessmentOperator
from tests.task_context import FakeStateStore, make_context

POST = ("POST", "/api/assessments")
PROBES = ["reverse_psychology", "instruction_override"]


class RecordingStore(FakeStateStore):
    """Remembers every write with how many POSTs the emulator had seen then; can refuse writes."""

    def __init__(self, emulator: Any) -> None:
        super().__init__()
        self.emulator = emulator
        self.writes: list[tuple[dict[str, Any], int]] = []
        self.refuse: str | None = None  # "launching" or "assessment_id": refuse writes of that kind

    def set(self, key: str, value: Any, **kwargs: Any) -> None:
        if self.refuse is not None and self.refuse in value:
            raise RuntimeError("task state store: HTTP 404 (task instance not found)")
        self.writes.append((json.loads(json.dumps(value)), self.emulator.count(*POST)))
        super().set(key, value, **kwargs)


def _conn(monkeypatch: pytest.MonkeyPatch, emulator: Any, conn_id: str, **extras: Any) -> str:
    extra = {"timeout": 5, "retry_backoff": 0.01, **extras}
    conn = {"conn_type": "modelred", "host": emulator.url, "password": emulator.api_key, "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn_id


@pytest.fixture
def conns(modelred_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """(a connection that gives up after one ambiguous POST, as a dying try does; a normal one)"""
    return (
        _conn(monkeypatch, modelred_emulator, "mr_once", max_retries=0),
        _conn(monkeypatch, modelred_emulator, "mr_normal"),
    )


def _op(conn_id: str, **kwargs: Any) -> ModelRedAssessmentOperator:
    kwargs.setdefault("model", "stuck-model")  # stays QUEUED: the task defers, deterministically
    kwargs.setdefault("test_types", PROBES)
    return ModelRedAssessmentOperator(
        task_id="assess", modelred_conn_id=conn_id, deferrable=True, poll_interval=1, **kwargs
    )


def _deferred_on(op: ModelRedAssessmentOperator, context: dict[str, Any]) -> str:
    with pytest.raises(TaskDeferred) as info:
        op.execute(context)
    return str(info.value.trigger.serialize()[1]["assessment_id"])


def test_the_intent_is_stored_before_the_post_then_replaced_by_the_id(modelred_emulator, conns) -> None:
    store = RecordingStore(modelred_emulator)
    aid = _deferred_on(_op(conns[1]), make_context(store=store))
    (intent, posts_then), (launched, posts_after) = store.writes
    assert posts_then == 0 and posts_after == 1
    assert intent["model"] == "stuck-model"
    launch = intent["launching"]
    assert launch["model"] == "stuck-model" and launch["test_types"] == sorted(PROBES)
    assert launch["api_generation"] == "resources" and launch["priority"] == "normal"
    assert launch["token"] and launch["started_at"] and launch["known_ids"] is not None
    assert modelred_emulator.api_key not in json.dumps(launch)
    assert launched == {"assessment_id": aid, "api_generation": "resources", "model": "stuck-model"}
    assert store.data[STATE_KEY] == launched


@pytest.mark.parametrize("kind", ["process_then_504", "truncated"])
def test_a_retry_adopts_what_the_unfinished_launch_created(modelred_emulator, conns, capfd, kind) -> None:
    store = RecordingStore(modelred_emulator)
    modelred_emulator.inject_fault(*POST, kind=kind)
    with pytest.raises(ModelRedError):  # try 1 learns nothing of what it created
        _op(conns[0]).execute(make_context(store=store))
    (created,) = modelred_emulator.created_assessments()
    assert "launching" in store.data[STATE_KEY]

    aid = _deferred_on(_op(conns[1]), make_context(store=store))  # try 2
    assert aid == created
    assert modelred_emulator.created_assessments() == [created]
    assert modelred_emulator.count(*POST) == 1
    assert store.data[STATE_KEY] == {
        "assessment_id": created,
        "api_generation": "resources",
        "model": "stuck-model",
    }
    out = capfd.readouterr()
    assert f"Adopting assessment {created}, created by the earlier launch" in out.out + out.err


def test_a_retry_adopts_when_the_id_could_not_be_stored(modelred_emulator, conns) -> None:
    # The orphaned-task case: the launch succeeds but the write of its id answers 404.
    store = RecordingStore(modelred_emulator)
    store.refuse = "assessment_id"
    with pytest.raises(RuntimeError, match="404"):
        _op(conns[1]).execute(make_context(store=store))
    (created,) = modelred_emulator.created_assessments()
    store.refuse = None
    assert _deferred_on(_op(conns[1]), make_context(store=store)) == created
    assert modelred_emulator.created_assessments() == [created]


def test_a_retry_launches_once_when_the_launch_created_nothing(modelred_emulator, conns, capfd) -> None:
    store = RecordingStore(modelred_emulator)
    modelred_emulator.inject_fault(*POST, kind="status", status=502)  # not processed
    with pytest.raises(ModelRedServerError):
        _op(conns[0]).execute(make_context(store=store))
    assert modelred_emulator.created_assessments() == []
    old_token = store.data[STATE_KEY]["launching"]["token"]

    aid = _deferred_on(_op(conns[1]), make_context(store=store))
    assert modelred_emulator.created_assessments() == [aid]
    assert [w["launching"]["token"] != old_token for w, _ in store.writes[1:] if "launching" in w] == [True]
    out = capfd.readouterr()
    assert "created no assessment; launching anew" in out.out + out.err


def test_no_post_without_a_record(modelred_emulator, conns) -> None:
    store = RecordingStore(modelred_emulator)
    store.refuse = "launching"
    with pytest.raises(RuntimeError, match="404"):
        _op(conns[1]).execute(make_context(store=store))
    assert modelred_emulator.count(*POST) == 0 and STATE_KEY not in store.data
    store.refuse = None
    _deferred_on(_op(conns[1]), make_context(store=store))  # the retry launches, once
    assert len(modelred_emulator.created_assessments()) == 1


def test_a_failed_lookup_fails_the_try_without_launching(modelred_emulator, conns) -> None:
    store = RecordingStore(modelred_emulator)
    modelred_emulator.inject_fault(*POST, kind="process_then_504")
    with pytest.raises(ModelRedError):
        _op(conns[0]).execute(make_context(store=store))
    (created,) = modelred_emulator.created_assessments()
    modelred_emulator.inject_fault("GET", "/api/assessments", kind="status", status=500)
    with pytest.raises(ModelRedServerError):
        _op(conns[1]).execute(make_context(store=store))
    assert modelred_emulator.count(*POST) == 1 and "launching" in store.data[STATE_KEY]
    assert _deferred_on(_op(conns[1]), make_context(store=store)) == created  # the next try adopts


def test_an_adopted_assessment_that_failed_fails_the_task_without_another_launch(
    modelred_emulator, conns
) -> None:
    """FAILED is ModelRed's verdict on the one assessment this task paid for: taken, final, not
    launched again (a cleared task launches anew: the record is gone)."""
    from modelred_provider.exceptions import ModelRedAssessmentFailedError

    store = RecordingStore(modelred_emulator)
    modelred_emulator.inject_fault(*POST, kind="process_then_504")
    with pytest.raises(ModelRedError):
        _op(conns[0]).execute(make_context(store=store))
    (failed,) = modelred_emulator.created_assessments()
    modelred_emulator.fail_assessment(failed, error="target model unreachable")
    with pytest.raises(ModelRedAssessmentFailedError, match="target model unreachable") as info:
        _op(conns[1]).execute(make_context(store=store))
    assert info.value.assessment_id == failed
    assert modelred_emulator.created_assessments() == [failed]
    assert STATE_KEY not in store.data


def test_a_launch_of_another_model_is_not_looked_for(modelred_emulator, conns) -> None:
    store = RecordingStore(modelred_emulator)
    modelred_emulator.inject_fault(*POST, kind="process_then_504")
    with pytest.raises(ModelRedError):
        _op(conns[0], model="gpt-4o-prod").execute(make_context(store=store))
    modelred_emulator.reset_counts()
    aid = _deferred_on(_op(conns[1]), make_context(store=store))  # the model was re-templated
    assert modelred_emulator.count("GET", "/api/assessments") == 1  # its own listing only, no lookup
    assert (
        len(modelred_emulator.created_assessments()) == 2
        and aid == modelred_emulator.created_assessments()[1]
    )
