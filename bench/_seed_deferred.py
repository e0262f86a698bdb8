"""Writes deferred task instances and their triggers into the metadata database (bench/real_triggerer.py).

Run in the benchmark's Airflow environment: ``python bench/_seed_deferred.py SPEC.json``. SPEC holds
``run_id``, ``task_id`` and ``triggers`` (a list of ``[classpath, kwargs]``); one dag run of
``modelred_bench_wait`` with one deferred task instance per trigger (map index 0..N-1), as N deferred
tasks leave them for a triggerer. Bench-only.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

from airflow.models.dag_version import DagVersion
from airflow.models.dagrun import DagRun
from airflow.models.serialized_dag import SerializedDagModel
from airflow.models.taskinstance import TaskInstance
from airflow.models.trigger import Trigger
from airflow.utils.session import create_session
from airflow.utils.state import DagRunState, TaskInstanceState
from airflow.utils.types import DagRunType

DAG_ID = "modelred_bench_wait"


def main(spec_path: str) -> None:
    with open(spec_path) as fh:
        spec = json.load(fh)
    with create_session() as session:
        version = (
            session.query(DagVersion)
            .filter(DagVersion.dag_id == DAG_ID)
            .order_by(DagVersion.created_at.desc())
            .first()
        )
        dag = SerializedDagModel.get(DAG_ID, session=session).dag
        task = dag.get_task(spec["task_id"])
        now = datetime.now(UTC)
        run = session.query(DagRun).filter(DagRun.run_id == spec["run_id"]).one_or_none()
        if run is None:
            run = DagRun(
                dag_id=DAG_ID,
                run_id=spec["run_id"],
                logical_date=now,
                run_after=now,
                start_date=now,
                state=DagRunState.RUNNING,
                run_type=DagRunType.MANUAL,
            )
            run.dag_version = version  # type: ignore[attr-defined]
            session.add(run)
            session.flush()
        triggers = [Trigger(classpath, kwargs) for classpath, kwargs in spec["triggers"]]
        session.add_all(triggers)
        session.flush()
        for index, trigger in enumerate(triggers, start=int(spec.get("first_index", 0))):
            ti = TaskInstance(task, dag_version_id=version.id, run_id=spec["run_id"], map_index=index)
            ti.state = TaskInstanceState.DEFERRED
            ti.trigger_id = trigger.id
            ti.next_method = "execute_complete"
            ti.start_date = now
            session.add(ti)
    print("seeded", len(spec["triggers"]))


if __name__ == "__main__":
    main(sys.argv[1])
