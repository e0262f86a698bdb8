"""Fixtures of the hook tests: one emulator per module over real HTTP, connections with fast retries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from modelred_provider.hooks.modelred import ModelRedHook
from modelred_provider.testing.emulator import ModelRedEmulator

KEY = "mr_test_key_0001"
FREE_KEY = "mr_free_tier_key_01"
ORG_KEY = "mr_globex_key_0001"
#: Retry settings that keep the suite quick (the defaults wait 0.5 s, 1 s, 2 s ...).
FAST = {"retry_backoff": 0.01, "retry_max_wait": 3, "timeout": 5, "max_retries": 3}


def set_connection(
    monkeypatch: pytest.MonkeyPatch,
    host: str,
    key: str = KEY,
    conn_id: str = "modelred_default",
    **extras: Any,
) -> str:
    """Define the connection the Airflow way users do: ``AIRFLOW_CONN_<ID>`` in JSON form."""
    conn = {"conn_type": "modelred", "host": host, "password": key, "extra": {**FAST, **extras}}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn_id


@pytest.fixture(scope="module")
def emu() -> Iterator[ModelRedEmulator]:
    with ModelRedEmulator(
        api_keys=(KEY, ORG_KEY),
        assessment_seconds=0.5,
        free_tier_keys=(FREE_KEY,),
        key_orgs={ORG_KEY: ["org_globex"]},
    ) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _clean_emulator(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test starts with no armed fault and zeroed counters on the module's emulator."""
    if "emu" in request.fixturenames:
        emulator: ModelRedEmulator = request.getfixturevalue("emu")
        emulator.clear_faults()
        emulator.reset_counts()
    yield


@pytest.fixture
def hook(emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModelRedHook]:
    set_connection(monkeypatch, emu.url)
    hook = ModelRedHook()
    yield hook
    hook.close()


def make_hook(monkeypatch: pytest.MonkeyPatch, host: str, key: str = KEY, **extras: Any) -> ModelRedHook:
    return ModelRedHook(modelred_conn_id=set_connection(monkeypatch, host, key, "modelred_test", **extras))


def acme_pack() -> str:
    """A probe pack owned by org_acme, the organization of gpt-4o-prod and claude-safe (seed data)."""
    from modelred_provider.testing.catalogue import ORG_ACME, seed_packs

    return next(p["id"] for p in seed_packs() if p["organizationId"] == ORG_ACME)
