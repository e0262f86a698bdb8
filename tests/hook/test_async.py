"""The async side: same requests and parser, a shared keep-alive aiohttp session, closed by the last user."""

from __future__ import annotations

import asyncio
import sys

import pytest
from airflow.sdk.exceptions import AirflowNotFoundException

from modelred_provider.api import errors as e
from modelred_provider.api.models import AssessmentStatus
from modelred_provider.api.vocabulary import ApiGeneration
from modelred_provider.hooks.modelred import ModelRedHook
from modelred_provider.testing.emulator import ModelRedEmulator

from .support import KEY, acme_pack, set_connection


def test_aget_assessment_in_both_generations_matches_the_sync_answer(
    hook: ModelRedHook, emu: ModelRedEmulator
) -> None:
    resources = hook.create_assessment("gpt-4o-prod", test_types=["reverse_psychology"])
    v2 = hook.create_assessment("claude-safe", probe_pack_ids=[acme_pack()])
    emu.complete_assessment(resources.id)
    emu.complete_assessment(v2.id)

    async def read() -> None:
        async with ModelRedHook() as ahook:
            got = await ahook.aget_assessment(resources.id)
            assert got == hook.get_assessment(resources.id)
            assert got.status is AssessmentStatus.COMPLETED and got.report is not None
            assert got.url == hook.assessment_url(resources.id)
            got_v2 = await ahook.aget_assessment(v2.id, api_generation=ApiGeneration.V2)
            assert got_v2 == hook.get_assessment(v2.id, api_generation=ApiGeneration.V2)
            with pytest.raises(e.ModelRedNotFoundError, match="Assessment not found"):
                await ahook.aget_assessment("asm_nope")

    asyncio.run(read())
    assert emu.count("GET", "/api/assessments/{id}") == 3
    assert emu.count("GET", "/api/v2/assessments/{id}") == 2


def test_acancel_assessment_refusals(hook: ModelRedHook, emu: ModelRedEmulator) -> None:
    v2 = hook.create_assessment("claude-safe", probe_pack_ids=[acme_pack()])

    async def cancel() -> None:
        async with ModelRedHook() as ahook:
            with pytest.raises(
                e.ModelRedNotAllowedForApiKeyError, match=r"cancel assessment .* in the ModelRed UI"
            ):
                await ahook.acancel_assessment(v2.id, api_generation=ApiGeneration.V2)
            with pytest.raises(e.ModelRedNotAllowedForApiKeyError, match="no cancel endpoint"):
                await ahook.acancel_assessment(v2.id)

    asyncio.run(cancel())
    assert emu.count("PATCH", "/api/v2/assessments/{id}") == 1


def test_hooks_of_one_connection_share_one_session_and_one_tcp_connection(
    hook: ModelRedHook, emu: ModelRedEmulator
) -> None:
    from modelred_provider.hooks._transport_async import open_sessions

    created = hook.create_assessment("gpt-4o-prod", test_types=["reverse_psychology"])

    async def many_pollers() -> None:
        hooks = [ModelRedHook() for _ in range(5)]
        for h in hooks:
            await h.__aenter__()
        assert open_sessions() == 1
        emu.reset_counts()
        for _ in range(4):
            for h in hooks:
                await h.aget_assessment(created.id)
        assert emu.count("GET", "/api/assessments/{id}") == 20
        assert emu.connections() == 1  # sequential polls reuse one keep-alive connection
        for h in hooks[:-1]:
            await h.aclose()
        assert open_sessions() == 1  # still used by the last hook
        await hooks[-1].aclose()
        assert open_sessions() == 0

    asyncio.run(many_pollers())


def test_hooks_of_one_connection_in_one_loop_read_it_once(
    emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten thousand triggers taken up at once must not each ask the triggerer for the connection: the
    hooks of one connection in one loop share one read (for a while); another connection, a failed
    read, or another loop read again."""
    set_connection(monkeypatch, emu.url)
    set_connection(monkeypatch, emu.url, conn_id="modelred_other")
    reads: list[str] = []
    original = ModelRedHook.aget_connection

    async def counted(conn_id: str):
        reads.append(conn_id)
        await asyncio.sleep(0.01)  # concurrent hooks arrive while the first read is under way
        return await original(conn_id)

    monkeypatch.setattr(ModelRedHook, "aget_connection", staticmethod(counted))

    async def many() -> None:
        reads.clear()
        hooks = [ModelRedHook() for _ in range(50)] + [ModelRedHook("modelred_other")]
        settings = await asyncio.gather(*(h.asettings() for h in hooks))
        assert all(s is settings[0] for s in settings[:50]) and settings[50] is not settings[0]
        assert sorted(reads) == ["modelred_default", "modelred_other"]
        for _ in range(2):
            with pytest.raises(AirflowNotFoundException):
                await ModelRedHook("modelred_missing").asettings()
        assert reads.count("modelred_missing") == 2  # a failure is not shared

    asyncio.run(many())
    asyncio.run(many())  # a new loop reads again (the assertions inside hold for it too)


def test_a_hook_used_without_context_closes_with_aclose(hook: ModelRedHook, emu: ModelRedEmulator) -> None:
    from modelred_provider.hooks._transport_async import open_sessions

    created = hook.create_assessment("gpt-4o-prod", test_types=["reverse_psychology"])

    async def poll() -> None:
        ahook = ModelRedHook()
        await ahook.aget_assessment(created.id)
        assert open_sessions() == 1
        await ahook.aclose()
        assert open_sessions() == 0
        await ahook.aclose()  # twice is harmless (a trigger's cleanup may run after an error path)

    asyncio.run(poll())


def test_cancelled_poll_still_releases_the_session(hook: ModelRedHook, emu: ModelRedEmulator) -> None:
    from modelred_provider.hooks._transport_async import open_sessions

    created = hook.create_assessment("gpt-4o-prod", test_types=["reverse_psychology"])
    emu.inject_fault("GET", f"/api/assessments/{created.id}", kind="stall", stall_seconds=2)

    async def trigger_like() -> None:
        async with ModelRedHook() as ahook:
            await ahook.aget_assessment(created.id)

    async def run() -> None:
        task = asyncio.create_task(trigger_like())
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert open_sessions() == 0

    asyncio.run(run())


def test_different_connections_get_different_sessions(
    emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelred_provider.hooks._transport_async import open_sessions

    set_connection(monkeypatch, emu.url, conn_id="modelred_a")
    set_connection(monkeypatch, emu.url, conn_id="modelred_b", timeout=7)

    async def two() -> None:
        async with ModelRedHook("modelred_a"), ModelRedHook("modelred_b"):
            assert open_sessions() == 2
        assert open_sessions() == 0

    asyncio.run(two())


def test_importing_the_hook_imports_neither_requests_nor_aiohttp() -> None:
    import subprocess

    code = (
        "import sys; import modelred_provider.hooks.modelred as m; "
        "print(sorted(n for n in ('requests', 'aiohttp', 'tenacity') if n in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "requests" not in out and "aiohttp" not in out, out


def test_alist_assessments_matches_the_sync_list_and_can_skip_reports_and_retries(
    hook: ModelRedHook, emu: ModelRedEmulator
) -> None:
    done = hook.create_assessment("gpt-4o-prod", test_types=["reverse_psychology"])
    emu.complete_assessment(done.id)
    v2 = hook.create_assessment("claude-safe", probe_pack_ids=[acme_pack()])
    emu.complete_assessment(v2.id)
    emu.reset_counts()

    async def read() -> None:
        async with ModelRedHook() as ahook:
            listed = await ahook.alist_assessments(limit=5)
            assert listed == hook.list_assessments(limit=5)
            by_id = {a.id: a for a in listed}
            assert by_id[done.id].report is not None
            bare = await ahook.alist_assessments(limit=5, report=False)
            assert [a.id for a in bare] == [a.id for a in listed]
            # (report=False leaves the reports of a large answer unbuilt; a small one is read whole)
            assert [a.status for a in bare] == [a.status for a in listed]
            v2_listed = await ahook.alist_assessments(
                limit=500, api_generation=ApiGeneration.V2, until_listed={v2.id}
            )
            assert v2.id in {a.id for a in v2_listed}
            emu.inject_fault("GET", "/api/assessments", kind="status", status=503, count=1)
            assert [a.id for a in await ahook.alist_assessments(limit=5)] == [a.id for a in listed]
            emu.inject_fault("GET", "/api/assessments", kind="status", status=503, count=1)
            with pytest.raises(e.ModelRedServerError):
                await ahook.alist_assessments(limit=5, retry=False)

    asyncio.run(read())
    # 2 reads + 2 for the one retried 503 + 1 for the one not retried; the sync list one more.
    assert emu.count("GET", "/api/assessments") == 6
    # v2: the newest is on page 1, so one page whatever the limit.
    assert emu.count("GET", "/api/v2/assessments") == 1


def test_alist_unfinished_assessments_lists_every_waiting_one_and_retries_only_when_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """v2: every QUEUED and RUNNING assessment across pages, none that ended; ``retry`` is the caller's."""
    with ModelRedEmulator(api_keys=(KEY,), assessment_seconds=600) as emu:
        set_connection(monkeypatch, emu.url)
        hook = ModelRedHook()
        pack = acme_pack()
        models = ("gpt-4o-prod", "claude-safe", "mistral-router")
        waiting = [hook.create_assessment(model, probe_pack_ids=[pack]).id for model in models]
        ended = hook.create_assessment("llama-weak", probe_pack_ids=[pack]).id
        emu.complete_assessment(ended)
        hook.close()
        lists = "/api/v2/assessments"

        async def read() -> None:
            async with ModelRedHook() as ahook:
                assert sorted(a.id for a in await ahook.alist_unfinished_assessments()) == sorted(waiting)
                emu.reset_counts()
                emu.inject_fault("GET", lists, kind="status", status=503, count=1)
                with pytest.raises(e.ModelRedServerError):  # the default: the caller falls back itself
                    await ahook.alist_unfinished_assessments()
                emu.clear_faults()
                emu.inject_fault("GET", lists, kind="status", status=503, count=1)
                listed = await ahook.alist_unfinished_assessments(retry=True)
                assert sorted(a.id for a in listed) == sorted(waiting)

        asyncio.run(read())
        # QUEUED and RUNNING, page 1 each: 2 (one refused) + 2 + 1 for the retried 503.
        assert emu.count("GET", lists) == 5
