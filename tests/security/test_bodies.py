"""Bombs and floods (issue 9, item 4): no answer may take more memory than the cap
(``max_response_mb``, default 32 MiB) nor hold the triggerer's loop while it is parsed.
One decoder (``api/body.py``) serves both transports: our own bounded decompression, then JSON."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import json
import time
import tracemalloc
import zlib
from collections.abc import Callable

import pytest

from modelred_provider.api import body as body_module
from modelred_provider.api import endpoints
from modelred_provider.api import errors as e

from .hostile import SECRET, Conn, HostileServer, Request, assessment, gzip_bomb, response
from .support import LeakCheck, connect

MiB = 1024 * 1024


def _answering(answer: bytes) -> Callable[[Conn, Request], None]:
    return lambda conn, request: conn.send(answer)


def _sync_and_async(monkeypatch: pytest.MonkeyPatch, url: str, **extras: object) -> list[BaseException]:
    """The same GET through both transports; the errors each raised (an answer is a failure here)."""
    errors: list[BaseException] = []
    hook = connect(monkeypatch, url, SECRET, max_retries=0, **extras)
    with pytest.raises(e.ModelRedError) as caught:
        hook.get_assessment("asm_1")
    errors.append(caught.value)

    async def poll() -> None:
        async with connect(monkeypatch, url, SECRET, max_retries=0, **extras) as ahook:
            with pytest.raises(e.ModelRedError) as acaught:
                await ahook.aget_assessment("asm_1")
            errors.append(acaught.value)

    asyncio.run(poll())
    return errors


def test_a_gzip_bomb_stops_at_the_cap_in_both_transports(
    monkeypatch: pytest.MonkeyPatch, leaks: LeakCheck
) -> None:
    """About 1 MiB on the wire that inflates to 1 GiB. Before: a raw MemoryError in the sync path and
    2.8 GB in the triggerer. Now: a ModelRedResponseError with too_large, memory near the 32 MiB cap."""
    bomb = gzip_bomb(1024 * MiB)
    assert len(bomb) < 2 * MiB

    def handle(conn: Conn, request: Request) -> None:
        conn.send(response(200, bomb, {"Content-Type": "application/json", "Content-Encoding": "gzip"}))

    with HostileServer(handle) as server:
        tracemalloc.start()
        try:
            errors = _sync_and_async(monkeypatch, server.url)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    for error in errors:
        assert _too_large(error), error
        assert "larger than 32 MiB" in str(error)
        leaks.add(error)
    assert peak < 3 * 32 * MiB, f"peak {peak / MiB:.0f} MiB"


def test_the_cap_is_a_connection_extra_and_applies_to_plain_bodies(
    monkeypatch: pytest.MonkeyPatch, leaks: LeakCheck
) -> None:
    big = json.dumps(assessment(status="COMPLETED", padding="x" * (3 * MiB))).encode()

    def handle(conn: Conn, request: Request) -> None:
        conn.send(response(200, big, {"Content-Type": "application/json"}))

    with HostileServer(handle) as server:
        errors = _sync_and_async(monkeypatch, server.url, max_response_mb=2)
        for error in errors:
            assert _too_large(error) and "2 MiB" in str(error)
            leaks.add(error)
        # Under the cap it reads as usual (the same body, a larger cap).
        hook = connect(monkeypatch, server.url, SECRET, max_response_mb=8)
        assert hook.get_assessment("asm_1").status.value == "COMPLETED"


def test_an_announced_flood_is_refused_before_reading_and_a_chunked_one_at_the_cap(
    monkeypatch: pytest.MonkeyPatch, leaks: LeakCheck
) -> None:
    """200 MB announced by Content-Length: refused at once. Without a length (close-delimited), the
    reading stops at the cap."""

    def announced(conn: Conn, request: Request) -> bool:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200000000\r\n\r\n"
        conn.send(head + b'{"data": "')
        time.sleep(0.5)
        return False

    with HostileServer(announced) as server:
        started = time.monotonic()
        for error in _sync_and_async(monkeypatch, server.url, max_response_mb=1):
            assert _too_large(error) and "announces 200000000" in str(error)
        assert time.monotonic() - started < 5

    def endless(conn: Conn, request: Request) -> bool:
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
        chunk = b"0" * 65536
        try:
            for _ in range(200):  # 12.5 MiB at most, far past the 1 MiB cap
                conn.send(chunk)
        except OSError:
            pass
        return False

    with HostileServer(endless) as server:
        for error in _sync_and_async(monkeypatch, server.url, max_response_mb=1):
            assert _too_large(error), error
            leaks.add(error)


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw deflate"])
def test_compressed_answers_under_the_cap_read_the_same_in_both_transports(
    encoding: str, monkeypatch: pytest.MonkeyPatch, leaks: LeakCheck
) -> None:
    payload = json.dumps(assessment(status="COMPLETED", progress=100)).encode()
    if encoding == "gzip":
        data = gzip.compress(payload)
    elif encoding == "deflate":
        data = zlib.compress(payload)
    else:
        squeezer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        data = squeezer.compress(payload) + squeezer.flush()
    header = "deflate" if "deflate" in encoding else "gzip"

    def handle(conn: Conn, request: Request) -> None:
        conn.send(response(200, data, {"Content-Type": "application/json", "Content-Encoding": header}))

    with HostileServer(handle) as server:
        hook = connect(monkeypatch, server.url, SECRET)
        assert hook.get_assessment("asm_1").status.value == "COMPLETED"

        async def poll() -> str:
            async with connect(monkeypatch, server.url, SECRET) as ahook:
                return (await ahook.aget_assessment("asm_1")).status.value

        assert asyncio.run(poll()) == "COMPLETED"
    assert all(r.headers.get("accept-encoding") == "gzip, deflate" for r in server.requests)


def test_an_encoding_we_did_not_ask_for_or_a_corrupt_one_is_a_typed_error(
    monkeypatch: pytest.MonkeyPatch, leaks: LeakCheck
) -> None:
    answers = {
        "br": response(200, b"\x00\x01", {"Content-Encoding": "br"}),
        "corrupt": response(200, b"not gzip at all", {"Content-Encoding": "gzip"}),
    }
    for name, answer in answers.items():
        with HostileServer(_answering(answer)) as server:
            for error in _sync_and_async(monkeypatch, server.url):
                assert type(error) is e.ModelRedResponseError, (name, error)
                leaks.add(error)


def test_a_large_answer_is_parsed_in_slices_that_hand_the_loop_back(
    monkeypatch: pytest.MonkeyPatch, leaks: LeakCheck
) -> None:
    """``json.loads`` holds the GIL: a thread would not free the loop. A body above the inline size is
    parsed incrementally, one slice per step, and the async transport hands the loop back after each
    step; the sync path runs the same steps to the same value. (The loop lag in milliseconds is
    printed by ``bench/loop_stalls.py``, not asserted here.)"""
    report = {"probes": [{"key": f"p{i}", "findings": ["x" * 50] * 5} for i in range(40000)]}
    big = json.dumps(assessment(status="COMPLETED", report=report)).encode()
    assert len(big) > 4 * body_module.INLINE_JSON_BYTES
    steps = body_module.decode_steps(big)
    count = 0
    while True:
        try:
            next(steps)
            count += 1
        except StopIteration as done:
            assert done.value == (True, json.loads(big))
            break
    assert count == -(-len(big) // body_module.JSON_SLICE_BYTES)
    small = json.dumps(assessment()).encode()
    assert list(body_module.decode_steps(small)) == []  # small answers: one go, no pause

    def handle(conn: Conn, request: Request) -> None:
        conn.send(response(200, big, {"Content-Type": "application/json"}))

    async def run() -> tuple[int, object, str]:
        async with connect(monkeypatch, server.url, SECRET) as ahook:
            found = await ahook.aget_assessment("asm_1")
            # What a waiting trigger reads: the status, without building the report at all.
            polled = await ahook.aget_assessment("asm_1", report=False)
        return (len(found.report.probes) if found.report else 0), polled.report, polled.status.value

    with HostileServer(handle) as server:
        assert asyncio.run(run()) == (40000, None, "COMPLETED")
        assert connect(monkeypatch, server.url, SECRET).get_assessment("asm_1").report is not None


def test_a_request_s_own_cap_binds_both_transports(monkeypatch: pytest.MonkeyPatch, leaks: LeakCheck) -> None:
    """A request may cap its answer below the connection's cap (a trigger's bounded final read); the
    rule is one (``RequestSpec.byte_cap``) and both transports stop there, not at the connection's."""
    big = json.dumps(assessment(status="COMPLETED", padding="x" * 300_000)).encode()

    def handle(conn: Conn, request: Request) -> None:
        conn.send(response(200, big, {"Content-Type": "application/json"}))

    capped = dataclasses.replace(endpoints.get_assessment("asm_1"), max_bytes=100_000)
    with HostileServer(handle) as server:
        hook = connect(monkeypatch, server.url, SECRET, max_retries=0)
        with pytest.raises(e.ModelRedResponseError) as caught:
            hook._transport.call(capped)
        errors: list[BaseException] = [caught.value]

        async def poll() -> None:
            async with connect(monkeypatch, server.url, SECRET, max_retries=0) as ahook:
                transport = await ahook._atransport()
                with pytest.raises(e.ModelRedResponseError) as acaught:
                    await transport.call(capped)
                errors.append(acaught.value)
                # the same answer under the connection's own cap reads as usual
                assert (await ahook.aget_assessment("asm_1")).status.value == "COMPLETED"

        asyncio.run(poll())
        assert hook.get_assessment("asm_1").status.value == "COMPLETED"
    for error in errors:
        assert _too_large(error), error
        leaks.add(error)


def _too_large(error: object) -> bool:
    return isinstance(error, e.ModelRedResponseError) and error.too_large and not error.retryable
