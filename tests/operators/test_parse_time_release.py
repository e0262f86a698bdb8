"""What the DAG processor pays for the release-pipeline operators (model registration, the report):
importing their modules adds only the base class and the parameter checks, as for the assessment
operator (tests/operators/test_parse_time.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

_PROBE = """
import json, sys
import airflow.sdk
before = set(sys.modules)
import {module}
print(json.dumps(sorted(set(sys.modules) - before)))
"""

_EXPECTED = {
    "modelred_provider.operators.assessment_report": {
        "modelred_provider.api",
        "modelred_provider.api.vocabulary",
        "modelred_provider.operators",
        "modelred_provider.operators.assessment_report",
        "modelred_provider.operators.validation",
    },
    "modelred_provider.operators.model": {
        "modelred_provider.api",
        "modelred_provider.api.vocabulary",
        "modelred_provider.operators",
        "modelred_provider.operators.model",
        "modelred_provider.operators.validation",
    },
}


@pytest.mark.parametrize("module", sorted(_EXPECTED))
def test_importing_the_module_imports_only_what_defining_its_classes_needs(module):
    out = subprocess.run(
        [sys.executable, "-c", _PROBE.format(module=module)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    added = json.loads(out.stdout.strip().splitlines()[-1])
    foreign = [
        m
        for m in added
        if m.split(".")[0] not in {"airflow", "modelred_provider"}
        and m.split(".")[0] not in sys.stdlib_module_names
    ]
    assert foreign == [], f"third-party modules imported at parse time: {foreign}"
    ours = {m for m in added if m.startswith("modelred_provider.")} - {"modelred_provider.get_provider_info"}
    assert ours == _EXPECTED[module], f"unexpected: {sorted(ours - _EXPECTED[module])}"
