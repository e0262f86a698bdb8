"""Chaos: a scenario's ``chaos`` faults a seeded random share of all API requests, with mixed kinds."""

from __future__ import annotations

import collections

import pytest
import requests

from modelred_provider.testing.emulator import ModelRedEmulator
from modelred_provider.testing.faults import CHAOS_KINDS, Chaos, ChaosDraw

from .support import KEY, Api

BODY = {"model": "gpt-4o-prod", "testTypes": ["dan_classic"], "priority": "normal"}


def _outcome(api: Api, method: str, path: str, **kw) -> str:
    try:
        resp = api.request(method, path, timeout=1.0, **kw)
    except requests.Timeout:
        return "timeout"
    except requests.ConnectionError:
        return "dropped"
    if resp.status_code == 200 or resp.status_code == 201:
        try:
            resp.json()
        except ValueError:
            return "truncated"
        return "ok"
    return str(resp.status_code)


def test_the_draw_is_seeded_and_near_the_rate() -> None:
    chaos = Chaos(rate=0.25, seed=11)
    first = [ChaosDraw(chaos).draw() for _ in range(1)]
    a, b = ChaosDraw(chaos), ChaosDraw(chaos)
    seq_a = [a.draw() for _ in range(2000)]
    seq_b = [b.draw() for _ in range(2000)]
    assert seq_a == seq_b and seq_a[:1] == first, "one seed, one sequence"
    hits = [k for k in seq_a if k is not None]
    assert 0.21 < len(hits) / len(seq_a) < 0.29
    assert set(hits) == set(CHAOS_KINDS), "every kind is drawn"
    other = ChaosDraw(Chaos(rate=0.25, seed=12))
    assert [other.draw() for _ in range(2000)] != seq_a


def test_about_a_quarter_of_requests_fail_in_mixed_ways_and_are_counted() -> None:
    scenario = {"models": {}, "chaos": {"rate": 0.25, "seed": 3, "stall_seconds": 1.5, "retry_after": 2}}
    with ModelRedEmulator(api_keys=(KEY,), scenario=scenario) as emu:
        api = Api(emu.url)
        outcomes = collections.Counter(_outcome(api, "GET", "/api/models") for _ in range(200))
        counts = emu.counts()
        chaos = {k.removeprefix("chaos "): v for k, v in counts.items() if k.startswith("chaos ")}
        assert counts["GET /api/models"] == 200
        assert 30 <= sum(chaos.values()) <= 70, chaos
        assert set(chaos) == set(CHAOS_KINDS), chaos
        # What the client saw matches what the emulator says it injected.
        assert outcomes["429"] == chaos["429"] and outcomes["502"] == chaos["502"]
        assert outcomes["503"] == chaos["503"] and outcomes["504"] == chaos["process_then_504"]
        assert outcomes["dropped"] == chaos["drop"] and outcomes["timeout"] == chaos["stall"]
        assert outcomes["truncated"] == chaos["truncated"]
        assert outcomes["ok"] == 200 - sum(chaos.values())
        # The control API is never faulted.
        for _ in range(30):
            assert requests.get(f"{emu.url}/_emulator/health", timeout=5).ok


def test_a_stalled_post_is_processed_at_once_and_answered_late() -> None:
    scenario = {"chaos": {"rate": 1.0, "seed": 0, "kinds": ["stall"], "stall_seconds": 2}}
    with ModelRedEmulator(api_keys=(KEY,), scenario=scenario) as emu:
        api = Api(emu.url)
        with pytest.raises(requests.Timeout):
            api.post("/api/assessments", json=BODY, timeout=0.5)
        assert len(emu.created_assessments()) == 1, "created before the client gave up"
        resp = api.post("/api/assessments", json=BODY, timeout=5)
        assert resp.status_code == 201 and resp.json()["data"]["id"] in emu.created_assessments()


def test_chaos_over_the_control_api_and_off_again() -> None:
    with ModelRedEmulator(api_keys=(KEY,)) as emu:
        api = Api(emu.url)
        put = requests.put(
            f"{emu.url}/_emulator/scenario", json={"chaos": {"rate": 1.0, "kinds": ["503"]}}, timeout=5
        )
        assert put.ok, put.text
        assert api.get("/api/models").status_code == 503
        assert emu.counts()["chaos 503"] == 1
        requests.put(f"{emu.url}/_emulator/scenario", json={"models": {}}, timeout=5).raise_for_status()
        assert api.get("/api/models").status_code == 200


@pytest.mark.parametrize(
    "chaos",
    [{"rate": 1.5}, {"rate": "x"}, {"rate": 0.2, "seed": "a"}, {"rate": 0.2, "kinds": ["boom"]}, {"rat": 1}],
)
def test_bad_chaos_is_refused(chaos) -> None:
    with pytest.raises(ValueError, match="chaos"):
        ModelRedEmulator(api_keys=(KEY,), scenario={"chaos": chaos})
