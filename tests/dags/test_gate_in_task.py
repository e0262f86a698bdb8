"""``QualityGate`` from a ``@task``: the documented way (docs/reference.md) runs under dag.test."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import pytest

DAGS_FOLDER = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
pytestmark = pytest.mark.modelred_emulator(assessment_seconds=1.0)


@pytest.fixture
def gate_dags(airflow_db: None) -> Any:
    path = DAGS_FOLDER / "modelred_gate_task_dags.py"
    spec = importlib.util.spec_from_file_location("modelred_gate_task_dags", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["modelred_gate_task_dags"] = module
    spec.loader.exec_module(module)
    return module


def test_quality_gate_in_a_task(gate_dags: Any, modelred_emulator: Any, modelred_connection: str) -> None:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    dag_run = gate_dags.GATE_IN_TASK.test()
    with create_session() as session:
        states = {ti.task_id: ti.state for ti in dag_run.get_task_instances(session=session)}
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id="gate", key="return_value")
            .one()
        )
        verdicts = XComModel.deserialize_value(row)
    assert states == {"assess": "success", "gate": "success"}, states
    assert verdicts["lenient"] == {"passed": True, "reasons": []}
    strict = " | ".join(verdicts["strict"]["reasons"])
    assert verdicts["strict"]["passed"] is False
    assert "below min_score=99" in strict and "high vulnerabilit" in strict, strict
