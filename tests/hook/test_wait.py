"""wait_for_assessment: in-process polling for the non-deferrable path, against the emulator."""

from __future__ import annotations

import time

import pytest

from modelred_provider.api import errors as e
from modelred_provider.api.models import Assessment, AssessmentStatus
from modelred_provider.api.vocabulary import ApiGeneration
from modelred_provider.hooks.modelred import ModelRedHook
from modelred_provider.testing.emulator import ModelRedEmulator

from .support import acme_pack, set_connection

PROBES = ["reverse_psychology", "instruction_override"]


def test_waits_until_completed_reporting_progress_changes(hook: ModelRedHook, emu: ModelRedEmulator) -> None:
    created = hook.create_assessment("gpt-4o-prod", test_types=PROBES)
    seen: list[Assessment] = []
    done = hook.wait_for_assessment(created.id, poll_interval=0.1, timeout=20, on_progress=seen.append)
    assert done.status is AssessmentStatus.COMPLETED and done.report is not None
    assert seen[-1] == done and len(seen) >= 2
    progress = [(a.status, a.progress) for a in seen]
    assert len(set(progress)) == len(progress)  # called only on change
    assert [p for _, p in progress] == sorted(p for _, p in progress)
    assert emu.count("GET", "/api/assessments/{id}") >= len(seen)


def test_returns_failed_and_cancelled_without_raising(hook: ModelRedHook, emu: ModelRedEmulator) -> None:
    failing = hook.create_assessment("broken-endpoint", test_types=PROBES)
    failed = hook.wait_for_assessment(failing.id, poll_interval=0.1, timeout=20)
    assert failed.status is AssessmentStatus.FAILED and failed.error_message
    v2 = hook.create_assessment("claude-safe", probe_pack_ids=[acme_pack()])
    emu.cancel_assessment(v2.id)
    cancelled = hook.wait_for_assessment(v2.id, poll_interval=0.1, timeout=5, api_generation=ApiGeneration.V2)
    assert cancelled.status is AssessmentStatus.CANCELLED


def test_timeout_names_the_last_state(hook: ModelRedHook) -> None:
    stuck = hook.create_assessment("stuck-model", test_types=PROBES)
    with pytest.raises(
        e.ModelRedWaitTimeoutError, match=rf"assessment {stuck.id} did not finish within 0.5 seconds"
    ) as info:
        hook.wait_for_assessment(stuck.id, poll_interval=0.1, timeout=0.5)
    # The wait ran out; no request did: not a transport timeout, not worth a retry of the call.
    assert not isinstance(info.value, e.ModelRedTransportError) and not info.value.retryable
    assert info.value.assessment_id == stuck.id and info.value.last_status == "QUEUED"


def test_an_absolute_deadline_ends_the_wait_like_the_policy(hook: ModelRedHook) -> None:
    stuck = hook.create_assessment("stuck-model", test_types=PROBES)
    started = time.time()
    with pytest.raises(e.ModelRedWaitTimeoutError, match="did not finish before its deadline"):
        hook.wait_for_assessment(stuck.id, poll_interval=0.1, timeout=None, deadline=started + 0.5)
    assert 0.4 < time.time() - started < 3


def test_the_pause_after_errors_is_the_policys_backoff_capped_by_poll_max_wait(
    emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A Retry-After of a day between two polls: the pause is capped by poll_max_wait (1 s here),
    # as in the trigger and the operator (no retry within the call, so the poller sees it).
    set_connection(monkeypatch, emu.url, poll_max_wait=1, max_retries=0)
    capped = ModelRedHook()
    try:
        created = capped.create_assessment("gpt-4o-prod", test_types=PROBES)
        emu.inject_fault(
            "GET", f"/api/assessments/{created.id}", kind="status", status=503, retry_after=86400
        )
        started = time.monotonic()
        done = capped.wait_for_assessment(created.id, poll_interval=0.1, timeout=30)
        assert done.status is AssessmentStatus.COMPLETED
        assert time.monotonic() - started < 10
        assert "waiting at most 1 s (connection extra poll_max_wait)" in capsys.readouterr().out
    finally:
        capped.close()


def test_transient_errors_are_polled_through_and_permanent_ones_raise(
    hook: ModelRedHook, emu: ModelRedEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    created = hook.create_assessment("gpt-4o-prod", test_types=PROBES)
    # 500 is not retried inside one call, but it is transient for a poller.
    emu.inject_fault("GET", f"/api/assessments/{created.id}", kind="status", status=500, count=2)
    done = hook.wait_for_assessment(created.id, poll_interval=0.1, timeout=20)
    assert done.status is AssessmentStatus.COMPLETED
    assert f"polling {created.id} failed" in capsys.readouterr().out
    with pytest.raises(e.ModelRedNotFoundError):
        hook.wait_for_assessment("asm_unknown", poll_interval=0.1, timeout=5)
    emu.inject_fault("GET", f"/api/assessments/{created.id}", kind="status", status=500, count=None)
    emu.reset_counts()
    with pytest.raises(e.ModelRedServerError):
        hook.wait_for_assessment(created.id, poll_interval=0.01, timeout=20, retry_budget=2)
    assert emu.count("GET", "/api/assessments/{id}") == 3  # the budget, then one more ends it
    emu.clear_faults()


def test_a_failing_callback_does_not_stop_the_wait(hook: ModelRedHook) -> None:
    created = hook.create_assessment("gpt-4o-prod", test_types=PROBES)

    def explode(_: Assessment) -> None:
        raise RuntimeError("callback bug")

    assert hook.wait_for_assessment(created.id, 0.1, 20, on_progress=explode).status.is_terminal


def test_bad_arguments(hook: ModelRedHook) -> None:
    with pytest.raises(e.ModelRedConfigurationError, match="must be positive"):
        hook.wait_for_assessment("x", poll_interval=0)


def test_wait_for_assessment_from_inside_a_running_event_loop(hook: ModelRedHook) -> None:
    """A notebook cell or async code calling the sync API: the wait loop runs on a loop of its own."""
    import asyncio

    created = hook.create_assessment("gpt-4o-prod", test_types=PROBES)

    async def cell() -> Assessment:
        return hook.wait_for_assessment(created.id, poll_interval=0.1, timeout=20)

    assert asyncio.run(cell()).status is AssessmentStatus.COMPLETED


def test_an_interrupted_wait_leaves_at_once_without_waiting_for_the_read_in_flight(
    hook: ModelRedHook, emu: ModelRedEmulator
) -> None:
    """A task's timeout or a kill arrives as an exception in the waiting thread: the wait ends then,
    not when the read in flight (here stalled 5 s) returns."""
    import signal

    created = hook.create_assessment("stuck-model", test_types=PROBES)
    emu.inject_fault("GET", f"/api/assessments/{created.id}", kind="stall", stall_seconds=5, count=None)

    def interrupt(signum: int, frame: object) -> None:
        raise TimeoutError("the task's execution_timeout")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.5)
    started = time.monotonic()
    try:
        with pytest.raises(TimeoutError, match="execution_timeout"):
            hook.wait_for_assessment(created.id, poll_interval=0.1, timeout=60)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - started < 3
