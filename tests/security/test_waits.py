"""Hostile timing (issue 9, item 3): a Retry-After of a day, a server that drips a byte at a time, a
server that never answers before the deadline. Every wait is bounded: one pause by
``retry_max_wait`` (within a call) and ``poll_max_wait`` (between polls), one request by a wall
clock in both transports, and every request by the time left before the wait's deadline."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from modelred_provider.api import errors as e
from modelred_provider.triggers.assessment import ModelRedAssessmentTrigger

from .hostile import SECRET, Conn, HostileServer, Request, assessment, json_answer, response
from .support import LeakCheck, connect


async def _first_event(trigger: ModelRedAssessmentTrigger) -> dict:
    async for event in trigger.run():
        return dict(event.payload)
    raise AssertionError("the trigger ended without an event")


def _far_future() -> str:
    return format_datetime(datetime.now(UTC) + timedelta(days=400), usegmt=True)


@pytest.mark.parametrize("retry_after", ["100000", "far-future date"])
def test_a_retry_after_of_a_day_is_capped_within_a_call(
    retry_after: str, monkeypatch: pytest.MonkeyPatch, leaks: LeakCheck
) -> None:
    value = _far_future() if retry_after == "far-future date" else retry_after
    answers = iter([response(429, '{"error": "slow down"}', {"Retry-After": value})])

    def handle(conn: Conn, request: Request) -> None:
        conn.send(next(answers, json_answer(assessment(status="COMPLETED"))))

    with HostileServer(handle) as server:
        hook = connect(monkeypatch, server.url, SECRET, retry_max_wait=0.5)
        started = time.monotonic()
        assert hook.get_assessment("asm_1").status.value == "COMPLETED"
        assert time.monotonic() - started < 10
    assert "the server asked to wait" in leaks.output() and "waiting at most 0.5 s" in leaks.output()


def test_a_trigger_never_pauses_longer_than_poll_max_wait(
    monkeypatch: pytest.MonkeyPatch, leaks: LeakCheck
) -> None:
    """A 429 asking for 100000 s between two polls: the trigger waits ``poll_max_wait`` (1 s) and says so."""
    answers = iter([response(429, '{"error": "slow down"}', {"Retry-After": "100000"})] * 2)

    def handle(conn: Conn, request: Request) -> None:
        conn.send(next(answers, json_answer(assessment(status="COMPLETED"))))

    with HostileServer(handle) as server:
        connect(monkeypatch, server.url, SECRET, conn_id="modelred_trigger", poll_max_wait=1, max_retries=0)
        trigger = ModelRedAssessmentTrigger(
            "asm_1", "modelred_trigger", poll_interval=0.2, deadline=time.time() + 60, retry_budget=5
        )

        started = time.monotonic()
        payload = asyncio.run(_first_event(trigger))
        took = time.monotonic() - started
    assert payload["reason"] == "completed"
    assert took < 15
    assert "waiting at most 1 s (connection extra poll_max_wait)" in leaks.output()


def _drip(body: bytes, interval: float, stop: threading.Event):
    def handle(conn: Conn, request: Request) -> bool:
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        with contextlib.suppress(OSError):
            conn.drip(head.encode() + body, interval, stop=stop)
        return False

    return handle


def test_a_dripping_server_is_cut_off_by_the_wall_clock_sync_and_async(
    monkeypatch: pytest.MonkeyPatch, leaks: LeakCheck
) -> None:
    """One byte every 0.2 s: each socket read succeeds, so a per-read timeout never fires. A 1 s
    limit must end each request after about 1 s, not after the ~60 s the whole answer takes."""
    body = json.dumps(assessment(status="COMPLETED")).encode()
    stop = threading.Event()
    with HostileServer(_drip(body, 0.2, stop)) as server:
        hook = connect(monkeypatch, server.url, SECRET, timeout=1, max_retries=0)
        started = time.monotonic()
        with pytest.raises(e.ModelRedTransportError, match="within 1 s") as caught:
            hook.get_assessment("asm_1")
        assert caught.value.kind == "timeout"
        assert time.monotonic() - started < 4
        leaks.add(caught.value)

        async def poll() -> None:
            async with connect(monkeypatch, server.url, SECRET, timeout=1, max_retries=0) as ahook:
                with pytest.raises(e.ModelRedTransportError, match="within 1 s") as acaught:
                    await ahook.aget_assessment("asm_1")
                assert acaught.value.kind == "timeout"
                leaks.add(acaught.value)

        started = time.monotonic()
        asyncio.run(poll())
        assert time.monotonic() - started < 4
        stop.set()


def test_each_request_is_clipped_to_the_deadline_of_the_wait(
    monkeypatch: pytest.MonkeyPatch, leaks: LeakCheck
) -> None:
    """A server that never answers, timeout 30 s and 3 retries: with 1.5 s left before the deadline,
    the call ends at the deadline (before: up to 4 x 30 s later)."""
    stop = threading.Event()

    def silent(conn: Conn, request: Request) -> bool:
        stop.wait(60)
        return False

    with HostileServer(silent) as server:
        hook = connect(monkeypatch, server.url, SECRET, timeout=30, max_retries=3)
        started = time.monotonic()
        with pytest.raises(e.ModelRedTransportError) as caught:
            hook.get_assessment("asm_1", deadline=time.time() + 1.5)
        assert time.monotonic() - started < 4
        leaks.add(caught.value)

        async def poll() -> None:
            async with connect(monkeypatch, server.url, SECRET, timeout=30, max_retries=3) as ahook:
                with pytest.raises(e.ModelRedTransportError) as acaught:
                    await ahook.aget_assessment("asm_1", deadline=time.time() + 1.5)
                leaks.add(acaught.value)

        started = time.monotonic()
        asyncio.run(poll())
        assert time.monotonic() - started < 4
        stop.set()


def test_the_trigger_ends_at_its_deadline_while_the_server_is_silent(
    monkeypatch: pytest.MonkeyPatch, leaks: LeakCheck
) -> None:
    stop = threading.Event()

    def silent(conn: Conn, request: Request) -> bool:
        stop.wait(60)
        return False

    with HostileServer(silent) as server:
        connect(monkeypatch, server.url, SECRET, conn_id="modelred_silent", timeout=30, max_retries=3)
        trigger = ModelRedAssessmentTrigger(
            "asm_1", "modelred_silent", poll_interval=0.5, deadline=time.time() + 2, retry_budget=8
        )

        started = time.monotonic()
        payload = asyncio.run(_first_event(trigger))
        stop.set()
    assert payload["reason"] == "timeout"
    assert time.monotonic() - started < 5
