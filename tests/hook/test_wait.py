"""wait_for_assessment: in-process polling for the non-deferrable path, against the emulator."""

from __future__ import annotations

import pytest

from modelred_provider.api import errors as e
from modelred_provider.api.models import ApiGeneration, Assessment, AssessmentStatus
from modelred_provider.hooks.modelred import ModelRedHook
from modelred_provider.testing.emulator import ModelRedEmulator

from .conftest import acme_pack

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
        e.ModelRedTimeoutError, match=rf"assessment {stuck.id} did not finish within 0.5 seconds"
    ):
        hook.wait_for_assessment(stuck.id, poll_interval=0.1, timeout=0.5)


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
    with pytest.raises(e.ModelRedServerError):
        hook.wait_for_assessment(created.id, poll_interval=0.01, timeout=20, max_consecutive_errors=3)
    emu.clear_faults()


def test_a_failing_callback_does_not_stop_the_wait(hook: ModelRedHook) -> None:
    created = hook.create_assessment("gpt-4o-prod", test_types=PROBES)

    def explode(_: Assessment) -> None:
        raise RuntimeError("callback bug")

    assert hook.wait_for_assessment(created.id, 0.1, 20, on_progress=explode).status.is_terminal


def test_bad_arguments(hook: ModelRedHook) -> None:
    with pytest.raises(e.ModelRedConfigurationError, match="must be positive"):
        hook.wait_for_assessment("x", poll_interval=0)
