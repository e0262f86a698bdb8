"""Closing the hook closes its HTTP connections (sync and async): a worker or triggerer that runs
thousands of tasks must not keep one idle keep-alive socket per finished hook.

The server answers with keep-alive, so a connection ends only when the client closes it; the
server counts those closes. Without ``close()`` / ``aclose()`` (or the context managers) nothing
would close them until garbage collection, which the test keeps from happening by holding the hook.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from .hostile import SECRET, Conn, Request, assessment, json_answer, serving
from .support import connect


def _keep_alive(conn: Conn, request: Request) -> None:
    if request.path.startswith("/api/models"):
        conn.send(json_answer({"data": [], "total": 0, "page": 1, "totalPages": 1}))
    else:
        conn.send(json_answer(assessment("asm_1", "RUNNING")))


def _closed_within(server: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if getattr(server, "closed_by_client", 0) >= 1:
            return True
        time.sleep(0.05)
    return False


def test_the_sync_hook_closes_its_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    with serving(_keep_alive) as server:
        hook = connect(monkeypatch, server.url, SECRET)
        with hook:
            hook.list_models()
            hook.list_models()
        assert server.connections == 1  # one pooled connection served both calls
        assert _closed_within(server, 3), "the hook left its keep-alive connection open"
        assert hook is not None  # the hook is alive: only close() can have closed the socket


def test_the_async_hook_closes_its_session(monkeypatch: pytest.MonkeyPatch) -> None:
    with serving(_keep_alive) as server:
        hook = connect(monkeypatch, server.url, SECRET)

        async def poll() -> None:
            async with hook:
                await hook.aget_assessment("asm_1")
                await hook.aget_assessment("asm_1")

        asyncio.run(poll())
        assert server.connections == 1
        assert _closed_within(server, 3), "the async hook left its session's connection open"
        assert hook is not None
