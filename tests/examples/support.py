"""What the example-DAG tests share: the examples folder, parsing it, reading a run's XComs and states."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parents[2] / "dags_examples"


AIRFLOW = str(Path(sys.executable).parent / "airflow")


def load_dag(dag_id: str) -> Any:
    """Parse dags_examples/ as the DAG processor would, failing on any import error."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(EXAMPLES))
    assert not bag.import_errors, f"import errors in dags_examples/: {bag.import_errors}"
    assert dag_id in bag.dags, f"{dag_id} not found in {sorted(bag.dags)}"
    return bag.dags[dag_id]


def xcom_value(dag_run: Any, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(
                dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id, key=key, map_index=map_index
            )
            .one_or_none()
        )
        assert row is not None, f"no XCom {key!r} for {task_id}[{map_index}] in {dag_run.run_id}"
        return XComModel.deserialize_value(row)


def states(dag_run: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for ti in dag_run.get_task_instances():
        key = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
        out[key] = ti.state
    return out
