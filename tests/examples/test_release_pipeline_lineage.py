"""OpenLineage: the release-pipeline example under ``dag.test()`` with apache-airflow-providers-openlineage's
listener on and its file transport configured as the provider documents
(``AIRFLOW__OPENLINEAGE__TRANSPORT``). The events are the real ones the listener emitted, read back from
the file. It runs in a fresh interpreter: the provider reads its configuration once, when its plugin loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRET = "sk-lineage-1f2e3d4c5b6a"

_RUN = """
import json, sys
from tests.examples.support import load_dag, xcom_value
run = load_dag("modelred_release_pipeline").test(run_conf={"model_id": sys.argv[1]})
summary = xcom_value(run, "assess")
print("RESULT " + json.dumps({"run_id": run.run_id, "state": run.state, "summary": summary}))
"""


@pytest.mark.modelred_emulator(assessment_seconds=1.0)
def test_the_assessment_reports_the_model_and_its_verdict(examples_env, modelred_emulator, tmp_path) -> None:
    import airflow.providers.openlineage  # noqa: F401  (the test extra has it: fail, never skip, without it)

    from modelred_provider.hooks.modelred import ModelRedHook

    with ModelRedHook() as hook:  # registered before: the pipeline reuses it, and it scores 41
        hook.create_model(
            "lineage-candidate",
            provider="openai",
            display_name="Fraud bot candidate",
            provider_config={"model": "gpt-4o-mini"},
        )
    modelred_emulator.set_scenario({"models": {"lineage-candidate": {"outcome": "low_score", "score": 41}}})
    events_file = tmp_path / "openlineage.jsonl"
    env = {
        **os.environ,
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(events_file), "append": True}
        ),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "release-tests",
        "AIRFLOW_CONN_CANDIDATE_MODEL_ENDPOINT": json.dumps({"conn_type": "generic", "password": SECRET}),
        "MODELRED_REPORTS_URL": f"file://{tmp_path}/reports",
    }
    done = subprocess.run(
        [sys.executable, "-c", _RUN, "lineage-candidate"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(done.stdout.split("RESULT ", 1)[1].splitlines()[0])
    summary = result["summary"]
    assert summary["gate"]["passed"] is False  # fail_on_gate=False: the run goes on to open_review

    events = [json.loads(line) for line in events_file.read_text().splitlines() if line.strip()]
    assess = [
        e
        for e in events
        if e["job"]["name"] == "modelred_release_pipeline.assess"
        and e["run"]["facets"].get("modelred_assessment")
    ]
    assert [e["eventType"] for e in assess] == ["COMPLETE"], [
        (e["eventType"], e["job"]["name"]) for e in events
    ]
    event = assess[0]
    port = modelred_emulator.url.rsplit(":", 1)[1]
    assert [(d["namespace"], d["name"]) for d in event["inputs"]] == [
        (f"modelred://127.0.0.1:{port}", "lineage-candidate")
    ]
    facet = event["run"]["facets"]["modelred_assessment"]
    assert facet["assessmentId"] == summary["assessment_id"] and facet["model"] == "lineage-candidate"
    assert facet["score"] == summary["score"] == 41 and facet["riskLevel"] == summary["risk_level"]
    assert facet["gatePassed"] is False and facet["gateReasons"] == summary["gate"]["reasons"] != []
    assert facet["status"] == "COMPLETED" and facet["url"] == summary["url"]
    assert facet["_schemaURL"].endswith("docs/reference.md#openlineage")
    assert event["job"]["namespace"] == "release-tests"
    # The grep: no secret anywhere in what the listener emitted, for any task of the run.
    text = events_file.read_text()
    for secret in (modelred_emulator.api_key, modelred_emulator.api_key[3:], SECRET):
        assert secret not in text, secret
