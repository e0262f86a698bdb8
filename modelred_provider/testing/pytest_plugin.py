"""Opt-in pytest fixtures for the ModelRed emulator.

Enable in a ``conftest.py``: ``pytest_plugins = ["modelred_provider.testing.pytest_plugin"]``.

- ``modelred_emulator``: a fresh emulator per test. Configure it with a marker:
  ``@pytest.mark.modelred_emulator(assessment_seconds=0.5, scenario={...}, max_concurrent=2, ...)``
  (any keyword of ``ModelRedEmulator``).
- ``modelred_emulator_session``: one emulator for the whole session (defaults only).
- ``modelred_connection``: sets ``AIRFLOW_CONN_MODELRED_DEFAULT`` (JSON form) to the test's emulator and
  yields the conn id ``"modelred_default"``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from modelred_provider.testing.emulator import ModelRedEmulator

__all__ = [
    "CONN_ID",
    "MARKER",
    "modelred_connection",
    "modelred_emulator",
    "modelred_emulator_session",
    "pytest_configure",
]

MARKER = "modelred_emulator"
CONN_ID = "modelred_default"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**kwargs): keyword arguments for the modelred_emulator fixture's ModelRedEmulator",
    )


@pytest.fixture
def modelred_emulator(request: pytest.FixtureRequest) -> Iterator[ModelRedEmulator]:
    marker = request.node.get_closest_marker(MARKER)
    kwargs = dict(marker.kwargs) if marker else {}
    with ModelRedEmulator(**kwargs) as emulator:
        yield emulator


@pytest.fixture(scope="session")
def modelred_emulator_session() -> Iterator[ModelRedEmulator]:
    with ModelRedEmulator() as emulator:
        yield emulator


@pytest.fixture
def modelred_connection(modelred_emulator: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch) -> str:
    conn = {"conn_type": "modelred", "host": modelred_emulator.url, "password": modelred_emulator.api_key}
    monkeypatch.setenv("AIRFLOW_CONN_" + CONN_ID.upper(), json.dumps(conn))
    return CONN_ID  # monkeypatch removes the variable after the test
