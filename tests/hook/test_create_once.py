"""create_assessment never leaves two assessments for one call, whatever fails in between."""

from __future__ import annotations

import socket
import threading

import pytest

from modelred_provider.api import errors as e
from modelred_provider.api.models import ApiGeneration
from modelred_provider.testing.emulator import ModelRedEmulator

from .conftest import acme_pack, make_hook

POST_RES, POST_V2 = "/api/assessments", "/api/v2/assessments"
PROBES = ["reverse_psychology", "instruction_override"]


def _created(emu: ModelRedEmulator, before: set[str]) -> list[str]:
    return [i for i in emu.created_assessments() if i not in before]


@pytest.mark.parametrize("kind", ["process_then_504", "truncated"])
def test_processed_then_failed_answer_adopts_the_created_assessment(
    emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    hook = make_hook(monkeypatch, emu.url)
    before = set(emu.created_assessments())
    emu.inject_fault("POST", POST_RES, kind=kind)
    assessment = hook.create_assessment("gpt-4o-prod", test_types=PROBES)
    assert _created(emu, before) == [assessment.id]
    assert emu.count("POST", POST_RES) == 1
    assert emu.count("GET", POST_RES) == 2  # the listing before the POST, and one look after it
    assert set(assessment.test_types) == set(PROBES) and assessment.url
    out = capsys.readouterr().out
    assert "the server may have processed it, will look for the assessment" in out
    assert f"the earlier attempt did create assessment {assessment.id}" in out


def test_502_not_processed_is_looked_for_then_sent_again(
    emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    hook = make_hook(monkeypatch, emu.url)
    before = set(emu.created_assessments())
    emu.inject_fault("POST", POST_RES, kind="status", status=502)
    assessment = hook.create_assessment("gpt-4o-prod", test_types=PROBES)
    assert _created(emu, before) == [assessment.id]
    assert emu.count("POST", POST_RES) == 2 and emu.count("GET", POST_RES) == 2
    assert "no assessment from the earlier attempt among the" in capsys.readouterr().out


def test_an_identical_assessment_launched_just_before_is_not_adopted(
    emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = make_hook(monkeypatch, emu.url)
    older = hook.create_assessment("gpt-4o-prod", test_types=PROBES)  # a few ms earlier, same fields
    emu.inject_fault("POST", POST_RES, kind="status", status=504)
    fresh = hook.create_assessment("gpt-4o-prod", test_types=PROBES)
    assert fresh.id != older.id
    assert emu.count("POST", POST_RES) == 3


def test_a_different_probe_set_is_not_adopted(emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = make_hook(monkeypatch, emu.url)
    other = hook.create_assessment("gpt-4o-prod", test_types=["reverse_psychology"])
    emu.inject_fault("POST", POST_RES, kind="status", status=502)
    mine = hook.create_assessment("gpt-4o-prod", test_types=PROBES)
    assert mine.id != other.id and set(mine.test_types) == set(PROBES)


def test_timeout_after_sending_leaves_exactly_one(
    emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # We give up after 1 s while the server stalls 2 s (the emulator then drops the request, as the
    # client is gone): the hook must look before resending, find nothing, and send exactly once more.
    # The timeout also bounds every other request of the call, so it leaves room for a loaded machine.
    hook = make_hook(monkeypatch, emu.url, timeout=1, retry_backoff=0.4)
    before = set(emu.created_assessments())
    emu.inject_fault("POST", POST_RES, kind="stall", stall_seconds=2)
    assessment = hook.create_assessment("gpt-4o-prod", test_types=PROBES)
    assert _created(emu, before) == [assessment.id]
    assert emu.count("POST", POST_RES) == 2 and emu.count("GET", POST_RES) == 2
    out = capsys.readouterr().out
    assert "no answer from" in out and "within 1 s" in out
    assert "will look for the assessment before sending again" in out
    assert "no assessment from the earlier attempt" in out


def test_dropped_connection_before_processing_is_sent_again(
    emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = make_hook(monkeypatch, emu.url)
    before = set(emu.created_assessments())
    emu.inject_fault("POST", POST_RES, kind="drop")
    assessment = hook.create_assessment("gpt-4o-prod", test_types=PROBES)
    assert _created(emu, before) == [assessment.id]
    assert emu.count("POST", POST_RES) == 2 and emu.count("GET", POST_RES) == 2


@pytest.mark.parametrize(("status", "retry_after"), [(429, None), (503, 0)])
def test_unprocessed_answers_are_resent_without_looking(
    emu: ModelRedEmulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    status: int,
    retry_after: int | None,
) -> None:
    hook = make_hook(monkeypatch, emu.url)
    before = set(emu.created_assessments())
    emu.inject_fault("POST", POST_RES, kind="status", status=status, retry_after=retry_after)
    assessment = hook.create_assessment("gpt-4o-prod", test_types=PROBES)
    assert _created(emu, before) == [assessment.id]
    assert emu.count("POST", POST_RES) == 2 and emu.count("GET", POST_RES) == 1  # no look after
    assert "the server did not process it" in capsys.readouterr().out


def test_503_without_retry_after_is_ambiguous(emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = make_hook(monkeypatch, emu.url)
    emu.inject_fault("POST", POST_RES, kind="status", status=503)
    hook.create_assessment("gpt-4o-prod", test_types=PROBES)
    assert emu.count("POST", POST_RES) == 2 and emu.count("GET", POST_RES) == 2


def test_v2_processed_then_504_adopts_by_probe_packs(
    emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = make_hook(monkeypatch, emu.url)
    before = set(emu.created_assessments())
    emu.inject_fault("POST", POST_V2, kind="process_then_504")
    assessment = hook.create_assessment("claude-safe", probe_pack_ids=[acme_pack()])
    assert _created(emu, before) == [assessment.id]
    assert assessment.api_generation is ApiGeneration.V2
    assert emu.count("POST", POST_V2) == 1 and emu.count("GET", POST_V2) == 2


def test_connection_refused_then_up_sends_once(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    hook = make_hook(monkeypatch, f"http://127.0.0.1:{port}", max_retries=8, retry_backoff=0.15)
    emulator = ModelRedEmulator(port=port)
    starter = threading.Timer(0.3, emulator.start)
    starter.start()
    try:
        assessment = hook.create_assessment("gpt-4o-prod", test_types=PROBES)
        assert emulator.created_assessments() == [assessment.id]
        assert emulator.count("POST", POST_RES) == 1 and emulator.count("GET", POST_RES) == 1
    finally:
        starter.join()
        emulator.stop()


def test_persistent_ambiguity_gives_up_with_the_last_error(
    emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = make_hook(monkeypatch, emu.url, max_retries=2)
    before = set(emu.created_assessments())
    emu.inject_fault("POST", POST_RES, kind="status", status=502, count=None)
    with pytest.raises(e.ModelRedServerError, match="create assessment failed, HTTP 502"):
        hook.create_assessment("gpt-4o-prod", test_types=PROBES)
    assert _created(emu, before) == []
    assert emu.count("POST", POST_RES) == 3


def test_an_ambiguous_attempt_is_still_looked_for_after_a_later_429(
    emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = make_hook(monkeypatch, emu.url)
    before = set(emu.created_assessments())
    emu.inject_fault("POST", POST_RES, kind="status", status=502)  # not processed: looked for, resent
    emu.inject_fault("POST", POST_RES, kind="status", status=429)  # not processed: resent
    emu.inject_fault("POST", POST_RES, kind="process_then_504")  # processed: must be found
    assessment = hook.create_assessment("gpt-4o-prod", test_types=PROBES)
    assert _created(emu, before) == [assessment.id]
    assert emu.count("POST", POST_RES) == 3
    assert emu.count("GET", POST_RES) == 1 + 3  # before, and before each resend after the 502
