"""``report_path`` on a real S3 endpoint (moto's standalone server, its own process, over HTTP):
Airflow's ObjectStoragePath with an ``aws`` connection writes the report; boto3 reads it back."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from modelred_provider.operators.assessment import XCOM_REPORT, ModelRedAssessmentOperator
from tests.objectstore.support import SECRET_KEY, S3Server, s3_server
from tests.task_context import FakeTI, make_context


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server("reports") as server:
        yield server


@pytest.mark.modelred_emulator(assessment_seconds=0.5)
def test_the_report_lands_in_the_bucket(s3, modelred_emulator, modelred_connection, monkeypatch) -> None:
    monkeypatch.setenv(s3.conn_env, s3.connection_json())
    ti = FakeTI()
    summary = ModelRedAssessmentOperator(
        task_id="assess",
        model="llama-weak",
        test_types=["dan_classic", "instruction_override"],
        min_score=70,
        fail_on_gate=False,
        poll_interval=0.2,
        report_path="s3://reports/modelred/run-1",
        report_conn_id=s3.conn_id,
    ).execute(make_context(ti=ti))

    assert ti.xcom[XCOM_REPORT] == {
        "json": "s3://reports/modelred/run-1/report.json",
        "html": "s3://reports/modelred/run-1/report.html",
    }
    client = s3.client()
    listed = client.list_objects_v2(Bucket="reports", Prefix="modelred/")["Contents"]
    assert sorted(o["Key"] for o in listed) == ["modelred/run-1/report.html", "modelred/run-1/report.json"]
    body = {
        o["Key"]: client.get_object(Bucket="reports", Key=o["Key"])["Body"].read().decode() for o in listed
    }
    document = json.loads(body["modelred/run-1/report.json"])
    assert document["summary"] == summary and document["failing_probes"]
    assert "<svg" in body["modelred/run-1/report.html"]
    for text in body.values():  # neither ModelRed's key nor the bucket's
        assert modelred_emulator.api_key not in text and SECRET_KEY not in text
