"""The triggerer's event loop under load (issue 9, items 10 and 11): waiting for a pooled connection is
not request time (a request that never got a connection was never sent), and the first async call
imports aiohttp off the loop."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time

import pytest

from modelred_provider.api import errors as e
from modelred_provider.hooks import _transport_async

from .hostile import SECRET, Conn, HostileServer, Request, assessment, json_answer
from .support import LeakCheck, connect


def _slow(seconds: float):
    def handle(conn: Conn, request: Request) -> None:
        time.sleep(seconds)
        conn.send(json_answer(assessment(status="RUNNING")))

    return handle


def test_two_hundred_polls_on_one_hook_wait_for_the_pool_without_timing_out(
    monkeypatch: pytest.MonkeyPatch, leaks: LeakCheck
) -> None:
    """Each answer takes 0.6 s and the timeout is 1 s. With 100 pooled connections, the second hundred
    polls wait about 0.6 s for a connection: before, that wait counted against aiohttp's total timeout
    and they failed as "the request was sent" although nothing had been sent."""
    assert _transport_async.POOL_LIMIT == 100
    with HostileServer(_slow(0.6)) as server:

        async def poll_all() -> list[object]:
            async with connect(monkeypatch, server.url, SECRET, timeout=1, max_retries=0) as ahook:
                return await asyncio.gather(
                    *(ahook.aget_assessment(f"asm_{i}") for i in range(200)), return_exceptions=True
                )

        results = asyncio.run(poll_all())
    failures = [r for r in results if isinstance(r, BaseException)]
    assert failures == [], failures[:3]
    assert server.connections <= 100


def test_a_request_that_never_got_a_connection_says_it_was_not_sent(
    monkeypatch: pytest.MonkeyPatch, leaks: LeakCheck
) -> None:
    """The pool full until the deadline: a transport error of kind connect (safe to resend), not a timeout."""
    with HostileServer(_slow(2.0)) as server:

        async def crowd() -> tuple[object, ...]:
            async with connect(monkeypatch, server.url, SECRET, timeout=5, max_retries=0) as ahook:
                busy = [asyncio.ensure_future(ahook.aget_assessment(f"asm_{i}")) for i in range(100)]
                await asyncio.sleep(0.3)
                late = await asyncio.gather(
                    ahook.aget_assessment("asm_late", deadline=time.time() + 0.5), return_exceptions=True
                )
                await asyncio.gather(*busy, return_exceptions=True)
                return late

        (late,) = asyncio.run(crowd())
    assert isinstance(late, e.ModelRedTransportError) and late.kind == "connect" and not late.sent, late
    assert "not sent: no free connection" in str(late)
    assert not any(r.path.endswith("asm_late") for r in server.requests)
    leaks.add(late)


def test_the_first_async_call_imports_aiohttp_off_the_event_loop(leaks: LeakCheck) -> None:
    """In a fresh interpreter (aiohttp not yet imported): record which thread imports aiohttp."""
    code = textwrap.dedent(
        """
        import asyncio, json, os, sys, threading
        from modelred_provider.testing.emulator import ModelRedEmulator
        from modelred_provider.hooks.modelred import ModelRedHook

        assert "aiohttp" not in sys.modules
        importers = []

        class Spy:
            def find_spec(self, name, path=None, target=None):
                if name == "aiohttp":
                    importers.append(threading.get_ident())
                return None

        sys.meta_path.insert(0, Spy())
        with ModelRedEmulator(api_keys=("mr_test_key_0001",)) as emu:
            os.environ["AIRFLOW_CONN_MODELRED_DEFAULT"] = json.dumps(
                {"conn_type": "modelred", "host": emu.url, "password": "mr_test_key_0001"}
            )
            created = ModelRedHook().create_assessment("gpt-4o-prod", test_types=["reverse_psychology"])

            async def main():
                loop_thread = threading.get_ident()
                async with ModelRedHook() as hook:
                    await hook.aget_assessment(created.id)
                return loop_thread

            loop_thread = asyncio.run(main())
        print(json.dumps({"importers": importers, "loop": loop_thread}))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    import json

    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["importers"], "aiohttp was never imported: the check saw nothing"
    assert seen["loop"] not in seen["importers"]
