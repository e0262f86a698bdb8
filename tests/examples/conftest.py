"""Fixtures for running the example DAGs under ``dag.test()`` against the emulator.

``dag.test()`` needs a migrated metadata database and the DAG file inside the DAGs folder, so the
session migrates the test AIRFLOW_HOME (set by tests/conftest.py) and points the DAGs folder at
``dags_examples/`` while these tests run.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from .support import AIRFLOW


@pytest.fixture(scope="session")
def migrated_airflow_db() -> None:
    result = subprocess.run([AIRFLOW, "db", "migrate"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (
        f"airflow db migrate failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    )


@pytest.fixture
def examples_env(migrated_airflow_db: None, modelred_connection: str) -> Iterator[str]:
    """Quick polling and the emulator as ``modelred_default``.

    The session DAGs folder (tests/conftest.py) holds a copy of dags_examples/, as ``dag.test()`` needs.
    """
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MODELRED_POLL_INTERVAL", "0.5")
        yield modelred_connection
