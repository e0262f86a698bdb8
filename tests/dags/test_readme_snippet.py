"""The README's headline operator tells the truth about every model docs/emulator.md documents.

``tests/dags/files/modelred_readme_dags.py`` builds one task per seeded model with the keyword arguments
read from README.md; one ``dag.test()`` runs them all against the emulator. Each task must end as the
"Seeded catalogue" table of docs/emulator.md says: a model that "passes" passes the README's gate, a
low-score one fails it for its score, risk and critical findings, a FAILED one fails with its error, a
stuck one times out, an inactive one is refused.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

DAGS_FOLDER = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.modelred_emulator(assessment_seconds=1.0)


def _documented_outcomes() -> dict[str, str]:
    """docs/emulator.md's seeded-model table: slug -> its Outcome cell."""
    text = (ROOT / "docs" / "emulator.md").read_text(encoding="utf-8")
    table = text.split("### Seeded catalogue", 1)[1].split("\n\n", 2)[1]
    rows: dict[str, str] = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        for slug in re.findall(r"`([^`]+)`", cells[0]):
            rows[slug] = cells[3]
    return rows


def _kind(outcome: str) -> str:
    for prefix, kind in (
        ("passes", "pass"),
        ("low score", "gate"),
        ("FAILED", "failed"),
        ("never leaves QUEUED", "stuck"),
        ("inactive", "refused"),
    ):
        if outcome.startswith(prefix):
            return kind
    raise AssertionError(f"docs/emulator.md documents an outcome this test does not know: {outcome!r}")


@pytest.fixture
def readme_dags(test_dags: Any) -> Any:
    spec = importlib.util.spec_from_file_location(
        "modelred_readme_dags", DAGS_FOLDER / "modelred_readme_dags.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["modelred_readme_dags"] = module
    spec.loader.exec_module(module)
    return module


def test_the_snippet_is_read_from_the_readme(readme_dags: Any) -> None:
    # The gate the README shows, read from README.md (not copied into the test).
    snippet = readme_dags.SNIPPET
    assert {k: snippet[k] for k in ("min_score", "max_risk_level", "fail_on_severities")} == {
        "min_score": 70,
        "max_risk_level": "medium",
        "fail_on_severities": ["critical"],
    }
    assert snippet["probe_categories"] and snippet["deferrable"] is True
    # docs/emulator.md lists exactly the seeded models.
    assert sorted(_documented_outcomes()) == sorted(readme_dags.MODELS)


def test_readme_gate_against_every_documented_model(
    readme_dags: Any, modelred_emulator: Any, modelred_connection: str, monkeypatch, capfd, caplog
) -> None:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    from modelred_provider.testing.catalogue import seed_models

    globex = {
        "conn_type": "modelred",
        "host": modelred_emulator.url,
        "password": modelred_emulator.api_key,
        "extra": {"organization_id": "org_globex"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_" + readme_dags.GLOBEX_CONN_ID.upper(), json.dumps(globex))

    dag_run = readme_dags.README_DAG.test()
    out = capfd.readouterr()
    log = out.out + out.err + caplog.text

    with create_session() as session:
        tis = {ti.task_id: ti.state for ti in dag_run.get_task_instances(session=session)}
        xcoms = {
            row.task_id: XComModel.deserialize_value(row)
            for row in session.query(XComModel).filter_by(
                dag_id=dag_run.dag_id, run_id=dag_run.run_id, key="assessment_summary"
            )
        }
        links = {
            row.task_id: XComModel.deserialize_value(row)
            for row in session.query(XComModel).filter_by(
                dag_id=dag_run.dag_id, run_id=dag_run.run_id, key="_link_ModelRedAssessmentLink"
            )
        }
    # The extra link: a task refused before any launch (grok-legacy) gets an empty link without the
    # false alarm Airflow logs when the link reads an XCom that was never pushed ...
    assert "XCom not found" not in log, log[log.find("XCom not found") - 2000 :][:3000]
    assert not links.get("assess_grok_legacy")
    # ... and a launched task's link still opens its assessment.
    assert links["assess_gpt_4o_prod"] == xcoms["assess_gpt_4o_prod"]["url"]
    assert links["assess_stuck_model"].startswith(f"{modelred_emulator.url}/assessments/")
    errors = {m["modelId"]: m["_error"] for m in seed_models()}
    for slug, outcome in _documented_outcomes().items():
        task_id = f"assess_{slug.replace('-', '_')}"
        state, summary = tis[task_id], xcoms.get(task_id)
        kind = _kind(outcome)
        where = f"{slug} ({outcome}): {state}, {summary}"
        if kind == "pass":
            assert state == "success", where
            assert summary["gate"] == {"passed": True, "reasons": []}, where
            assert summary["vulnerabilities_by_severity"]["critical"] == 0, where
            assert summary["risk_level"] in ("low", "medium") and summary["score"] >= 70, where
            continue
        assert state == "failed", where
        if kind == "gate":
            reasons = " | ".join(summary["gate"]["reasons"])
            assert "is below min_score=70" in reasons, where
            assert "above max_risk_level='medium'" in reasons, where
            assert "critical vulnerabilit" in reasons, where
        elif kind == "failed":
            assert summary["status"] == "FAILED" and summary["error"] == errors[slug], where
            assert f"ModelRed assessment of model {slug} failed" in log, where
        elif kind == "stuck":
            assert summary is None, where
            assert f"of model {slug} did not finish within 4 s" in log, where
        else:  # refused: nothing was launched, so nothing to summarise
            assert summary is None, where
            assert "MODEL_INACTIVE" in log or "inactive" in log.lower(), where
