"""create_assessment never leaves two assessments for one call, whatever fails in between."""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from modelred_provider.api import errors as e
from modelred_provider.api.vocabulary import ApiGeneration
from modelred_provider.testing.emulator import ModelRedEmulator

from .support import KEY, acme_pack, make_hook

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


# --- the launch intent: what a later process needs to find what a launch created ----------------


def _launch_and_lose_the_answer(
    emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch, kind: str, **extras: object
) -> dict:
    """A launch whose POST fails ambiguously and whose process learns nothing more (no retry, as if it
    died right after): returns the intent it recorded before sending."""
    hook = make_hook(monkeypatch, emu.url, max_retries=0, **extras)
    intents: list[dict] = []
    emu.inject_fault("POST", POST_RES, kind=kind, stall_seconds=2 if kind == "stall" else None)
    with pytest.raises(e.ModelRedError):
        hook.create_assessment("gpt-4o-prod", test_types=PROBES, on_intent=intents.append)
    hook.close()
    assert len(intents) == 1
    return intents[0]


def test_on_intent_is_recorded_before_the_post_as_plain_json_without_the_key(
    emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = make_hook(monkeypatch, emu.url, timeout=7)
    older = hook.create_assessment("gpt-4o-prod", test_types=PROBES)
    emu.reset_counts()
    seen: list[tuple[dict, int]] = []
    assessment = hook.create_assessment(
        "gpt-4o-prod",
        test_types=PROBES,
        priority="high",
        on_intent=lambda intent: seen.append((intent, emu.count("POST", POST_RES))),
    )
    ((intent, posts_before),) = seen
    assert posts_before == 0 and emu.count("POST", POST_RES) == 1  # recorded before the POST
    assert json.loads(json.dumps(intent)) == intent  # plain JSON
    assert KEY not in json.dumps(intent)
    assert intent["model"] == "gpt-4o-prod" and intent["api_generation"] == "resources"
    assert intent["test_types"] == sorted(PROBES) and intent["priority"] == "high"
    assert older.id in intent["known_ids"] and assessment.id not in intent["known_ids"]
    assert len(intent["token"]) == 32
    sent = datetime.fromisoformat(intent["sent_at"])
    assert datetime.fromisoformat(intent["started_at"]) <= sent
    assert (datetime.fromisoformat(intent["in_flight_until"]) - sent).total_seconds() == 7


def test_on_intent_is_recorded_again_before_a_resend(
    emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = make_hook(monkeypatch, emu.url)
    emu.inject_fault("POST", POST_RES, kind="status", status=502)  # looked for, not found, resent
    intents: list[dict] = []
    hook.create_assessment("gpt-4o-prod", test_types=PROBES, on_intent=intents.append)
    assert len(intents) == 2 == emu.count("POST", POST_RES)
    first, second = intents
    assert first["token"] == second["token"] and first["started_at"] == second["started_at"]
    assert second["sent_at"] > first["sent_at"]


def test_a_failing_on_intent_sends_nothing(emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = make_hook(monkeypatch, emu.url)
    before = set(emu.created_assessments())

    def refuse(intent: dict) -> None:
        raise RuntimeError("the task state store answered 404")

    with pytest.raises(RuntimeError, match="404"):
        hook.create_assessment("gpt-4o-prod", test_types=PROBES, on_intent=refuse)
    assert emu.count("POST", POST_RES) == 0 and _created(emu, before) == []


@pytest.mark.parametrize("kind", ["process_then_504", "truncated"])
def test_find_launched_adopts_what_a_dead_launch_created(
    emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    before = set(emu.created_assessments())
    intent = _launch_and_lose_the_answer(emu, monkeypatch, kind)
    (created,) = _created(emu, before)
    other = make_hook(monkeypatch, emu.url)  # a later try: another process, a fresh hook
    found = other.find_launched(json.loads(json.dumps(intent)))
    assert found is not None and found.id == created and found.url
    assert _created(emu, before) == [created]  # it only looked
    assert f"did create assessment {created}; adopting it" in capsys.readouterr().out


def test_find_launched_v2_by_probe_packs(emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = make_hook(monkeypatch, emu.url, max_retries=0)
    intents: list[dict] = []
    before = set(emu.created_assessments())
    emu.inject_fault("POST", POST_V2, kind="process_then_504")
    with pytest.raises(e.ModelRedError):
        hook.create_assessment("claude-safe", probe_pack_ids=[acme_pack()], on_intent=intents.append)
    (created,) = _created(emu, before)
    assert intents[0]["api_generation"] == "v2" and intents[0]["probe_pack_ids"] == [acme_pack()]
    found = make_hook(monkeypatch, emu.url).find_launched(intents[0])
    assert found is not None and found.id == created and found.api_generation is ApiGeneration.V2


def test_find_launched_is_none_when_the_launch_created_nothing(
    emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The POST stalled past our 1 s timeout and the emulator dropped it once the client was gone.
    before = set(emu.created_assessments())
    intent = _launch_and_lose_the_answer(emu, monkeypatch, "stall", timeout=1)
    time.sleep(1.5)  # let the stalled request end on the emulator's side
    assert _created(emu, before) == []
    hook = make_hook(monkeypatch, emu.url)
    started = time.monotonic()
    assert hook.find_launched(intent) is None
    assert time.monotonic() - started < 1.5  # its POST is no longer in flight: no wait


def test_find_launched_never_takes_an_older_other_probe_set_or_other_model(
    emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = make_hook(monkeypatch, emu.url)
    older = hook.create_assessment("gpt-4o-prod", test_types=PROBES)  # listed before the launch
    intents: list[dict] = []
    emu.inject_fault("POST", POST_RES, kind="status", status=502)  # not processed
    with pytest.raises(e.ModelRedServerError):
        make_hook(monkeypatch, emu.url, max_retries=0).create_assessment(
            "gpt-4o-prod", test_types=PROBES, on_intent=intents.append
        )
    (intent,) = intents
    assert older.id in intent["known_ids"]
    hook.create_assessment("gpt-4o-prod", test_types=["reverse_psychology"])  # after, other probes
    hook.create_assessment("claude-safe", test_types=PROBES)  # after, other model
    assert hook.find_launched(intent, settle=False) is None


def test_find_launched_widens_the_listing_past_later_launches(
    emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = set(emu.created_assessments())
    intent = _launch_and_lose_the_answer(emu, monkeypatch, "process_then_504")
    (created,) = _created(emu, before)
    hook = make_hook(monkeypatch, emu.url)
    for _ in range(25):  # a busy organisation: more launches since than one page of the lookup
        hook.create_assessment("claude-safe", test_types=["reverse_psychology"])
    emu.reset_counts()
    found = hook.find_launched(intent)
    assert found is not None and found.id == created
    assert emu.count("GET", POST_RES) == 2  # 20, then 100


def test_find_launched_waits_out_a_post_that_may_still_be_in_flight(
    emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A model no other test launches, so the module's emulator holds nothing else that could match.
    hook = make_hook(monkeypatch, emu.url)
    intents: list[dict] = []
    emu.inject_fault("POST", POST_RES, kind="status", status=502)  # not processed: nothing to find yet
    with pytest.raises(e.ModelRedServerError):
        make_hook(monkeypatch, emu.url, max_retries=0).create_assessment(
            "llama-weak", test_types=PROBES, on_intent=intents.append
        )
    # As if that POST were still being processed: it may be answered until 0.8 s from now, and the
    # server creates the assessment at 0.5 s (another hook: the sessions are not shared across threads).
    until = datetime.now(UTC) + timedelta(seconds=0.8)
    intent = {**intents[0], "in_flight_until": until.isoformat()}
    server_side = make_hook(monkeypatch, emu.url)
    late = threading.Timer(0.5, lambda: server_side.create_assessment("llama-weak", test_types=PROBES))
    late.start()
    try:
        assert hook.find_launched(intent, settle=False) is None  # one look, too early
        found = hook.find_launched(intent)
    finally:
        late.join()
    assert found is not None and found.id == emu.created_assessments()[-1]
    assert "may still be in flight; looking again in" in capsys.readouterr().out


def test_find_launched_never_guesses(emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    intent = _launch_and_lose_the_answer(emu, monkeypatch, "process_then_504")
    hook = make_hook(monkeypatch, emu.url)
    emu.inject_fault("GET", POST_RES, kind="status", status=500)  # the lookup cannot be done
    with pytest.raises(e.ModelRedServerError):
        hook.find_launched(intent)
    for bad in ({}, {**intent, "version": 99}, {**intent, "test_types": []}, {**intent, "started_at": "x"}):
        with pytest.raises(e.ModelRedConfigurationError, match="cannot look for an earlier launch"):
            hook.find_launched(bad)
