"""``dag.test()`` needs a migrated metadata DB and the DAG files inside the DAGs folder.

The root conftest gives a temporary AIRFLOW_HOME and a session DAGs folder holding a copy of
``tests/dags/files``; here ``airflow db migrate`` runs once per session (in a subprocess, as a user
would run it).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

DAGS_FOLDER = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])


@pytest.fixture(scope="session")
def airflow_db() -> None:
    airflow_bin = Path(sys.executable).with_name("airflow")
    subprocess.run(
        [str(airflow_bin), "db", "migrate"],
        check=True,
        capture_output=True,
        timeout=300,
        env=os.environ.copy(),
    )


@pytest.fixture(scope="session")
def test_dags(airflow_db) -> Any:
    spec = importlib.util.spec_from_file_location("modelred_test_dags", DAGS_FOLDER / "modelred_test_dags.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["modelred_test_dags"] = module
    spec.loader.exec_module(module)
    return module
