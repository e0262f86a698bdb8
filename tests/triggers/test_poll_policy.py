"""The poll policy shared by the trigger and the in-process wait: status rules, budget, deadline."""

from __future__ import annotations

import time

import pytest

from modelred_provider.api.errors import (
    ModelRedAuthenticationError,
    ModelRedRateLimitError,
    ModelRedServerError,
)
from modelred_provider.api.models import Assessment, AssessmentStatus
from modelred_provider.exceptions import ModelRedAssessmentError
from modelred_provider.operators.completion import reason_of
from modelred_provider.waiting.outcome import parse_reason
from modelred_provider.waiting.policy import PollPolicy


def _a(status: AssessmentStatus, error: str | None = None) -> Assessment:
    return Assessment("a1", status, progress=50, error_message=error)


@pytest.mark.parametrize(
    ("status", "reason", "event_status"),
    [
        (AssessmentStatus.COMPLETED, "completed", "success"),
        (AssessmentStatus.FAILED, "failed", "error"),
        (AssessmentStatus.CANCELLED, "cancelled", "error"),
    ],
)
def test_terminal_statuses_end_the_wait(status, reason, event_status):
    step = PollPolicy("a1", poll_interval=5, deadline=None, retry_budget=2).on_assessment(_a(status, "boom"))
    assert step.event is not None
    event = dict(step.event)
    message = event.pop("message")
    assert event == {
        "status": event_status,
        "reason": reason,
        "assessment_id": "a1",
        "assessment_status": status.value,
    }
    # What the task log and the exception say: which assessment, how it ended, and ModelRed's words.
    assert message == f"Assessment a1 ended {status.value}: boom"


@pytest.mark.parametrize("status", [AssessmentStatus.QUEUED, AssessmentStatus.RUNNING])
def test_running_sleeps_the_interval(status):
    step = PollPolicy("a1", poll_interval=5, deadline=None, retry_budget=2).on_assessment(_a(status))
    assert step.event is None and step.delay == 5


def test_sleep_never_passes_the_deadline_and_then_times_out():
    policy = PollPolicy("a1", poll_interval=60, deadline=time.time() + 2, retry_budget=2)
    step = policy.on_assessment(_a(AssessmentStatus.RUNNING))
    assert step.event is None and 0 < step.delay <= 2
    policy.deadline = time.time() - 0.01
    step = policy.on_assessment(_a(AssessmentStatus.RUNNING))
    assert step.event["reason"] == "timeout" and step.event["assessment_status"] == "RUNNING"


def test_transient_errors_back_off_within_budget_then_one_error_event():
    policy = PollPolicy("a1", poll_interval=1, deadline=None, retry_budget=3)
    delays = []
    for _ in range(3):
        step = policy.on_error(ModelRedServerError("503", status=503))
        assert step.event is None
        delays.append(step.delay)
    assert delays[0] < delays[1] < delays[2]  # exponential, jitter is +-20%
    step = policy.on_error(ModelRedServerError("503", status=503))
    assert step.event["reason"] == "error" and "retry_budget=3" in step.event["message"]


def test_a_success_resets_the_budget():
    policy = PollPolicy("a1", poll_interval=1, deadline=None, retry_budget=1)
    assert policy.on_error(ModelRedServerError("x")).event is None
    assert policy.on_assessment(_a(AssessmentStatus.RUNNING)).event is None
    assert policy.on_error(ModelRedServerError("x")).event is None


def test_retry_after_is_honoured():
    policy = PollPolicy("a1", poll_interval=0.1, deadline=None, retry_budget=3)
    step = policy.on_error(ModelRedRateLimitError("slow down", retry_after=7, status=429))
    assert step.delay >= 7


def test_retry_after_on_a_503_is_honoured_too():
    policy = PollPolicy("a1", poll_interval=0.1, deadline=None, retry_budget=3)
    maintenance = ModelRedServerError("down for maintenance", status=503)
    maintenance.retry_after = 5
    assert policy.on_error(maintenance).delay >= 5


def test_permanent_error_ends_at_once():
    step = PollPolicy("a1", poll_interval=1, deadline=None, retry_budget=9).on_error(
        ModelRedAuthenticationError("Invalid API key", status=401)
    )
    assert step.event["reason"] == "error" and "permanent" in step.event["message"]


@pytest.mark.parametrize("event", [None, {}, {"reason": "exploded"}, "completed"])
def test_malformed_events_are_clear_errors(event):
    with pytest.raises(ValueError, match="reason"):
        parse_reason(event)
    with pytest.raises(ModelRedAssessmentError, match="reason") as caught:  # what a task raises
        reason_of(event)
    assert caught.value.reason == "error"
