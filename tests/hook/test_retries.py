"""The retry rules for reads, over real HTTP: what is retried, Retry-After, bounds, and the log lines."""

from __future__ import annotations

import asyncio
import socket
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from modelred_provider.api import errors as e
from modelred_provider.api.errors import parse_retry_after
from modelred_provider.api.retry import RetryPolicy
from modelred_provider.hooks.modelred import ModelRedHook
from modelred_provider.testing.emulator import ModelRedEmulator

from .support import make_hook

MODELS = "/api/models"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_two_503s_then_success_is_one_call_of_three_requests(
    hook: ModelRedHook, emu: ModelRedEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    emu.inject_fault("GET", MODELS, kind="status", status=503, count=2)
    models = hook.list_models()
    assert models and emu.count("GET", MODELS) == 3
    out = capsys.readouterr().out
    assert (
        "ModelRed list models: attempt 1 of 4 failed with HTTP 503 (ModelRedServerError); retrying in" in out
    )
    assert "attempt 2 of 4 failed with HTTP 503" in out and "attempt 3" not in out


@pytest.mark.parametrize("status", [429, 502, 504])
def test_other_transient_statuses_are_retried(hook: ModelRedHook, emu: ModelRedEmulator, status: int) -> None:
    emu.inject_fault("GET", MODELS, kind="status", status=status)
    assert hook.list_models()
    assert emu.count("GET", MODELS) == 2


def test_429_retry_after_one_second_is_honoured(hook: ModelRedHook, emu: ModelRedEmulator) -> None:
    emu.inject_fault("GET", MODELS, kind="status", status=429, retry_after=1)
    started = time.monotonic()
    assert hook.list_models()
    waited = time.monotonic() - started
    assert 0.9 <= waited < 5, waited
    assert emu.count("GET", MODELS) == 2


def test_retry_after_is_capped(emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = make_hook(monkeypatch, emu.url, retry_max_wait=0.2)
    emu.inject_fault("GET", MODELS, kind="status", status=503, retry_after=30)
    started = time.monotonic()
    assert hook.list_models()
    assert time.monotonic() - started < 3


def test_total_time_budget_stops_retries(emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = make_hook(monkeypatch, emu.url, max_retries=10, retry_max_seconds=0.5, retry_max_wait=30)
    emu.inject_fault("GET", MODELS, kind="status", status=503, retry_after=2, count=None)
    started = time.monotonic()
    with pytest.raises(e.ModelRedServerError):
        hook.list_models()
    assert time.monotonic() - started < 1.5  # the 2 s wait would overrun the 0.5 s budget: no retry
    assert emu.count("GET", MODELS) == 1


def test_attempts_are_bounded_by_max_retries(emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = make_hook(monkeypatch, emu.url, max_retries=2)
    emu.inject_fault("GET", MODELS, kind="status", status=502, count=None)
    with pytest.raises(e.ModelRedServerError) as caught:
        hook.list_models()
    assert caught.value.status == 502 and caught.value.retryable
    assert emu.count("GET", MODELS) == 3


def test_a_dropped_connection_and_a_stall_past_the_timeout_are_retried(
    emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = make_hook(monkeypatch, emu.url, timeout=0.3)
    emu.inject_fault("GET", MODELS, kind="drop")
    assert hook.list_models()
    assert emu.count("GET", MODELS) == 2
    emu.reset_counts()
    emu.inject_fault("GET", MODELS, kind="stall", stall_seconds=1.0)
    assert hook.list_models()
    assert emu.count("GET", MODELS) == 2


def test_timeouts_when_every_attempt_stalls(emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    hook = make_hook(monkeypatch, emu.url, timeout=0.2, max_retries=1)
    emu.inject_fault("GET", MODELS, kind="stall", stall_seconds=0.6, count=2)
    with pytest.raises(e.ModelRedTransportError, match=r"no answer from .* within 0.2 s") as caught:
        hook.list_models()
    assert caught.value.kind == "timeout" and caught.value.sent


def test_connection_refused_is_retried_then_reported(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    hook = make_hook(monkeypatch, f"http://127.0.0.1:{_free_port()}", max_retries=2)
    with pytest.raises(e.ModelRedTransportError, match=r"cannot connect to http://127\.0\.0\.1:") as caught:
        hook.list_models()
    assert caught.value.retryable and caught.value.kind == "connect" and not caught.value.sent
    out = capsys.readouterr().out
    assert "attempt 1 of 3 failed with ModelRedTransportError (connect)" in out
    assert "attempt 2 of 3 failed with ModelRedTransportError (connect)" in out


def test_connection_refused_then_the_server_comes_up(monkeypatch: pytest.MonkeyPatch) -> None:
    port = _free_port()
    hook = make_hook(monkeypatch, f"http://127.0.0.1:{port}", max_retries=8, retry_backoff=0.15)
    emulator = ModelRedEmulator(port=port)

    def start_later() -> None:
        time.sleep(0.3)
        emulator.start()

    import threading

    starter = threading.Thread(target=start_later)
    starter.start()
    try:
        assert hook.list_models()
    finally:
        starter.join()
        emulator.stop()


def test_500_and_4xx_are_not_retried(hook: ModelRedHook, emu: ModelRedEmulator) -> None:
    for status in (500, 400, 404):
        emu.reset_counts()
        emu.inject_fault("GET", MODELS, kind="status", status=status)
        with pytest.raises(e.ModelRedAPIError):
            hook.list_models()
        assert emu.count("GET", MODELS) == 1


def test_async_reads_follow_the_same_rules(hook: ModelRedHook, emu: ModelRedEmulator) -> None:
    created = hook.create_assessment("gpt-4o-prod", test_types=["reverse_psychology"])
    path = f"/api/assessments/{created.id}"

    async def poll() -> None:
        async with hook:
            emu.inject_fault("GET", path, kind="status", status=503, count=2)
            assert (await hook.aget_assessment(created.id)).id == created.id
            assert emu.count("GET", "/api/assessments/{id}") == 3
            emu.inject_fault("GET", path, kind="status", status=429, retry_after=1)
            started = time.monotonic()
            await hook.aget_assessment(created.id)
            assert 0.9 <= time.monotonic() - started < 5
            emu.inject_fault("GET", path, kind="drop")
            await hook.aget_assessment(created.id)
            emu.inject_fault("GET", path, kind="status", status=500)
            with pytest.raises(e.ModelRedServerError):
                await hook.aget_assessment(created.id)
            assert emu.count("GET", "/api/assessments/{id}") == 3 + 2 + 2 + 1

    asyncio.run(poll())


def test_parse_retry_after_seconds_and_http_dates() -> None:
    now = time.time()
    assert parse_retry_after("1") == 1.0
    assert parse_retry_after(" 2.5 ") == 2.5
    assert parse_retry_after("-3") == 0.0
    when = datetime.fromtimestamp(now, UTC) + timedelta(seconds=30)
    assert 28 <= (parse_retry_after(format_datetime(when, usegmt=True), now=now) or 0) <= 31
    past = datetime.fromtimestamp(now, UTC) - timedelta(days=1)
    assert parse_retry_after(format_datetime(past, usegmt=True), now=now) == 0.0
    for junk in (None, "", "soon", "nan", "inf", "Mon, 99 Foo 2025"):
        assert parse_retry_after(junk) is None


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    policy = RetryPolicy(backoff=0.5, max_wait=3)
    waits = [[policy.backoff_wait(attempt) for attempt in (1, 2, 3, 4, 5)] for _ in range(50)]
    for attempt, base in enumerate((0.5, 1.0, 2.0), start=0):
        values = [row[attempt] for row in waits]
        assert all(base <= v <= base + 0.25 for v in values)
        assert len(set(values)) > 1  # jitter
    assert all(row[4] == 3 for row in waits)  # 8 s capped at 3
    limited = e.ModelRedRateLimitError("slow down", retry_after=100)
    assert policy.wait_after(1, limited) == 3
