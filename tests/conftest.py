"""Test-wide settings. Airflow reads its configuration at import, so this runs before any test imports it."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="modelred-airflow-home-"))

# One DAGs folder for the whole session: ``dag.test()`` serializes the DAGs of the configured
# dags-folder bundle, and Airflow reads that setting once, so the example DAGs and the test DAGs
# must live side by side (two folders switched per test leave one set unserialized).
DAGS_FOLDER = Path(tempfile.mkdtemp(prefix="modelred-dags-"))
for source in (ROOT / "dags_examples", ROOT / "tests" / "dags" / "files"):
    for dag_file in source.glob("*.py"):
        shutil.copy(dag_file, DAGS_FOLDER / dag_file.name)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_FOLDER)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")

# The emulator fixtures that DAG authors can use too (opt-in, see README).
pytest_plugins = ["modelred_provider.testing.pytest_plugin"]
