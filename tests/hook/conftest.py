"""Fixtures of the hook tests: one emulator per module over real HTTP, connections with fast retries."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelred_provider.hooks.modelred import ModelRedHook
from modelred_provider.testing.emulator import ModelRedEmulator

from .support import FREE_KEY, KEY, ORG_KEY, set_connection


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
def _clean_emulator(request: pytest.FixtureRequest) -> None:
    """Each test starts with no armed fault and zeroed counters on the module's emulator."""
    if "emu" in request.fixturenames:
        emulator: ModelRedEmulator = request.getfixturevalue("emu")
        emulator.clear_faults()
        emulator.reset_counts()


@pytest.fixture
def hook(emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModelRedHook]:
    set_connection(monkeypatch, emu.url)
    hook = ModelRedHook()
    yield hook
    hook.close()
