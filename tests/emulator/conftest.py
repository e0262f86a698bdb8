"""Fixtures of the emulator's contract tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelred_provider.testing.emulator import ModelRedEmulator

from .support import FREE_KEY, GLOBEX_KEY, KEY, Api


@pytest.fixture(scope="module")
def emu() -> Iterator[ModelRedEmulator]:
    """One emulator per test module (start/stop costs ~0.2 s); tests create their own assessments."""
    with ModelRedEmulator(
        api_keys=(KEY, GLOBEX_KEY),
        assessment_seconds=0.6,
        free_tier_keys=(FREE_KEY,),
        key_orgs={GLOBEX_KEY: ["org_globex"]},
    ) as emulator:
        yield emulator


@pytest.fixture
def api(emu: ModelRedEmulator) -> Api:
    return Api(emu.url)


@pytest.fixture
def api2(emu: ModelRedEmulator) -> Api:
    """A v2 (E3) client: Bearer and x-api-key, like SDK 0.1.39+."""
    return Api(emu.url, v2=True)
