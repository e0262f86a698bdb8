"""Every example DAG imports cleanly: no import error, no deprecation warning, a docstring, parse-cheap."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from .support import EXAMPLES

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.py"))
EXPECTED_DAGS = {
    "modelred_release_gate.py": "modelred_release_gate",
    "modelred_nightly_scan.py": "modelred_nightly_scan",
    "modelred_wait_for_assessment.py": "modelred_wait_for_assessment",
    "modelred_deploy_on_passing_assessment.py": "modelred_deploy_on_passing_assessment",
    "modelred_release_pipeline.py": "modelred_release_pipeline",
}

# Runs in a fresh interpreter: Airflow's own import-time warnings happen before recording starts,
# then every warning raised while the example file runs is reported back.
# One interpreter for all files (each import of Airflow costs seconds). Between files it forgets only our
# own modules and the heavy ones it looks for, so each file imports them afresh. Airflow's and other
# libraries' modules stay loaded: an Airflow ORM module imported twice defines its table twice on
# Airflow's one MetaData ("Table 'variable' is already defined"), which no real parse ever does.
_PROBE = """
import json, runpy, sys, warnings
import airflow.sdk  # noqa: F401  (baseline: Airflow's own import)
from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime
# Also Airflow's own: the first Asset loads every installed provider's asset URI handlers (with the
# Amazon provider, boto3 and requests), once per process, whatever the DAG.
ProvidersManagerTaskRuntime().initialize_providers_asset_uri_resources()
FORGET = ("modelred_provider", "requests", "aiohttp")
reports = {}
for path in sys.argv[1:]:
    for name in [n for n in sys.modules if n.split(".")[0] in FORGET]:
        del sys.modules[name]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        namespace = runpy.run_path(path)
    reports[path] = {
        "dags": sorted(v.dag_id for v in namespace.values() if type(v).__name__ == "DAG"),
        "warnings": [f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in caught],
        "heavy": sorted(m for m in ("requests", "aiohttp") if m in sys.modules),
    }
print(json.dumps(reports))
"""


@pytest.fixture(scope="module")
def import_reports() -> dict[str, dict]:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *map(str, EXAMPLE_FILES)], capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, f"importing the examples failed:\n{result.stderr[-3000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_every_example_is_listed() -> None:
    assert sorted(p.name for p in EXAMPLE_FILES) == sorted(EXPECTED_DAGS), "update EXPECTED_DAGS"


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_example_imports_without_warnings(path: Path, import_reports: dict[str, dict]) -> None:
    report = import_reports[str(path)]
    assert report["dags"] == [EXPECTED_DAGS[path.name]]
    deprecations = [w for w in report["warnings"] if "Deprecat" in w]
    assert deprecations == [], f"{path.name} raises deprecation warnings: {deprecations}"
    assert report["warnings"] == [], f"{path.name} raises warnings: {report['warnings']}"
    # Parsing a DAG file must not pull in the HTTP transports (they load when a task runs).
    assert report["heavy"] == [], f"{path.name} imports {report['heavy']} at parse time"


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_example_has_a_docstring_saying_what_it_shows(path: Path) -> None:
    doc = ast.get_docstring(ast.parse(path.read_text()))
    assert doc and "What it shows" in doc, f"{path.name} needs a docstring with a 'What it shows' part"
