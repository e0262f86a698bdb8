"""dags_examples/modelred_release_pipeline.py runs under ``dag.test()`` against the emulator: register ->
assess with a regression gate, its report kept per run in a real S3 bucket (moto's server, over HTTP) ->
branch -> deploy or open a review, the model deleted as a teardown."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.examples.support import load_dag, states, xcom_value
from tests.objectstore.support import SECRET_KEY, S3Server, s3_server

SECRET = "sk-example-9d8c7b6a5f4e"


@pytest.fixture
def candidate_endpoint(monkeypatch: pytest.MonkeyPatch) -> str:
    """The target model's credentials, as the DAG expects them: an Airflow connection."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_CANDIDATE_MODEL_ENDPOINT", json.dumps({"conn_type": "generic", "password": SECRET})
    )
    return SECRET


@pytest.fixture
def reports_bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    """The example's reports go to a real S3 bucket: MODELRED_REPORTS_URL and its aws connection."""
    with s3_server("release-reports") as server:
        monkeypatch.setenv(server.conn_env, server.connection_json())
        monkeypatch.setenv("MODELRED_REPORTS_URL", "s3://release-reports/modelred")
        monkeypatch.setenv("MODELRED_REPORTS_CONN_ID", server.conn_id)
        yield server


@pytest.mark.modelred_emulator(assessment_seconds=1.0)
def test_release_pipeline_deploys_a_safe_candidate_and_reviews_a_regression(
    examples_env, modelred_emulator, candidate_endpoint, reports_bucket
) -> None:
    from modelred_provider.hooks.modelred import ModelRedHook

    dag = load_dag("modelred_release_pipeline")
    first = dag.test(run_conf={"model_id": "candidate-1"})
    assert states(first) == {
        "register": "success",
        "assess": "success",
        "route": "success",
        "deploy": "success",
        "open_review": "skipped",
        "delete_candidate": "success",
    }, states(first)
    summary = xcom_value(first, "assess")
    assert summary["gate"]["passed"] and "no earlier COMPLETED" in summary["baseline"]["note"]
    assert summary["airflow_task"]["run_id"] == first.run_id
    assert modelred_emulator.count("DELETE", "/api/models/{id}") == 1  # the teardown removed candidate-1

    # A model registered before the pipeline ran is reused (created: False) and kept by the teardown, so
    # its second assessment has the first as its baseline: a 12-point drop goes to review.
    with ModelRedHook() as hook:
        hook.create_model(
            "candidate-2",
            provider="openai",
            display_name="Fraud bot candidate",
            provider_config={"model": "gpt-4o-mini"},
        )
    modelred_emulator.set_scenario({"models": {"candidate-2": {"outcome": "pass", "score": 95}}})
    base = dag.test(run_conf={"model_id": "candidate-2"})
    assert xcom_value(base, "register")["created"] is False
    assert states(base)["deploy"] == "success"
    modelred_emulator.set_scenario({"models": {"candidate-2": {"outcome": "pass", "score": 83}}})
    regressed = dag.test(run_conf={"model_id": "candidate-2"})
    got = states(regressed)
    assert got["assess"] == "success" and got["open_review"] == "success" and got["deploy"] == "skipped", got
    assert got["delete_candidate"] == "success" and regressed.state == "success", got
    summary = xcom_value(regressed, "assess")
    assert summary["baseline"]["assessment_id"] == xcom_value(base, "assess")["assessment_id"]
    assert summary["baseline"]["score_drop"] == 12
    assert "more than max_score_drop=5" in xcom_value(regressed, "open_review")
    assert modelred_emulator.count("DELETE", "/api/models/{id}") == 1, "a reused model is kept"
    assert SECRET not in json.dumps([xcom_value(r, "assess") for r in (first, base, regressed)])

    # Each run kept its full report in the bucket, in its own folder (report_path is templated per run),
    # and the review task points at the page.
    client = reports_bucket.client()
    objects = client.list_objects_v2(Bucket="release-reports")["Contents"]
    folders = [f"modelred/modelred_release_pipeline/{r.run_id}" for r in (first, base, regressed)]
    assert sorted(o["Key"] for o in objects) == sorted(
        f"{f}/report.{ext}" for f in folders for ext in ("html", "json")
    )
    assert f"s3://release-reports/{folders[2]}/report.html" in xcom_value(regressed, "open_review")
    kept = json.loads(
        client.get_object(Bucket="release-reports", Key=f"{folders[2]}/report.json")["Body"].read()
    )
    assert kept["summary"] == summary
    for item in objects:  # the grep: no secret in any kept file
        text = client.get_object(Bucket="release-reports", Key=item["Key"])["Body"].read().decode()
        for secret in (SECRET, SECRET_KEY, modelred_emulator.api_key):
            assert secret not in text, (item["Key"], secret)
