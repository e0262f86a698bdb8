"""Session fixtures for the end-to-end tests: the emulator and the four Airflow components, started once.

Every test in this folder is marked ``e2e``. The processes are stopped by process group in the
fixtures' finalisers, so they go away also when a test fails or the session is interrupted.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import E2E_API_KEY, REPO, AirflowStack, EmulatorProcess

HERE = Path(__file__).resolve().parent

# A key shaped like a real one and unlike anything else, so grepping for it cannot hit by accident.
# How long an emulated assessment runs: long enough to see the task deferred, short enough for CI.
ASSESSMENT_SECONDS = 8.0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test here ``e2e``; with ``MODELRED_E2E_ORDER=reverse`` (as ``scripts/test.sh`` runs
    them) run them in reverse order, so that a test relying on another's leftovers fails in CI. Tests
    marked ``scan_after_all`` (the key-leak search) still run last: they search what all others left."""
    mine = [i for i, item in enumerate(items) if Path(str(item.fspath)).resolve().is_relative_to(HERE)]
    for i in mine:
        items[i].add_marker(pytest.mark.e2e)
    ordered = [items[i] for i in mine]
    if os.environ.get("MODELRED_E2E_ORDER") == "reverse":
        ordered.reverse()
    ordered.sort(key=lambda item: item.get_closest_marker("scan_after_all") is not None)  # stable
    for i, item in zip(mine, ordered, strict=True):
        items[i] = item


@pytest.fixture(scope="session")
def e2e_artifacts() -> Path:
    path = REPO / "artifacts" / "e2e"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def emulator_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    log_dir = tmp_path_factory.mktemp("emulator")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    emulator = EmulatorProcess([E2E_API_KEY], ASSESSMENT_SECONDS, log_dir, env)
    try:
        yield emulator.start()
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def airflow_stack(emulator_process: EmulatorProcess) -> Iterator[AirflowStack]:
    connection = {
        "conn_type": "modelred",
        "host": emulator_process.url,
        "password": E2E_API_KEY,
        "extra": {"dashboard_url": emulator_process.url, "timeout": 10},
    }
    stack = AirflowStack([REPO / "dags_examples", HERE / "dags"], connection, extra_env={})
    try:
        yield stack.start()
    finally:
        stack.stop()
        if os.environ.get("MODELRED_E2E_KEEP") != "1":  # keep the home (logs, DB) for a post-mortem
            shutil.rmtree(stack.home, ignore_errors=True)
