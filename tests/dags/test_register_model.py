"""Register -> assess -> delete (as a teardown) under dag.test(): the target model's credentials come
from an Airflow connection, reach ModelRed, and appear in no XCom, rendered field or log line."""

from __future__ import annotations

import json

import pytest

CREATE = ("POST", "/api/models")

SECRET = "sk-live-7f3a9c2e1b4d6a8f"
EXTRA_SECRET = "org-secret-5e1d9b7c3a"


@pytest.mark.modelred_emulator(assessment_seconds=0.5)
def test_register_assess_delete_keeps_the_credentials_out_of_airflow(
    test_dags, modelred_emulator, modelred_connection, monkeypatch, capfd, caplog
):
    monkeypatch.setenv(
        "AIRFLOW_CONN_TARGET_LLM",
        json.dumps(
            {
                "conn_type": "generic",
                "host": "https://llm.internal.example",
                "password": SECRET,
                "extra": {"organizationSecret": EXTRA_SECRET, "deployment": "blue"},
            }
        ),
    )
    dag_run = test_dags.DAGS["mr_register_assess_delete"].test(run_conf={"model_id": "candidate-bot"})
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states == {"register": "success", "assess": "success", "delete": "success"}, states

    # ModelRed got the credentials (the emulator stores the body; it never answers providerConfig).
    stored = [m for m in modelred_emulator.state.models.values() if m["modelId"] == "candidate-bot"]
    assert stored == [], "the teardown deleted the model this run created"
    assert (
        modelred_emulator.count(*CREATE) == 1 and modelred_emulator.count("DELETE", "/api/models/{id}") == 1
    )

    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        xcoms = session.query(XComModel).filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id).all()
        rendered = (
            session.query(RenderedTaskInstanceFields)
            .filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id)
            .all()
        )
        stored_text = json.dumps([XComModel.deserialize_value(x) for x in xcoms], default=str)
        stored_text += json.dumps([r.rendered_fields for r in rendered], default=str)
    registered = next(XComModel.deserialize_value(x) for x in xcoms if x.task_id == "register")
    assert registered["created"] is True and registered["model_id"] == "candidate-bot"
    assert '"temperature": 0' in stored_text  # the rendered fields were read
    logs = capfd.readouterr()
    everything = stored_text + logs.out + logs.err + caplog.text
    assert "Registered ModelRed model candidate-bot" in everything  # the task logs were read
    for secret in (SECRET, EXTRA_SECRET):
        assert secret not in everything
