"""Test-wide settings. Airflow reads its configuration at import, so this runs before any test imports it."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="modelred-airflow-home-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")

# The emulator fixtures that DAG authors can use too (opt-in, see README).
pytest_plugins = ["modelred_provider.testing.pytest_plugin"]
