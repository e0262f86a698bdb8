"""End-to-end test DAGs: an assessment that only ends when the test says so (``stuck-model`` never
leaves QUEUED until the emulator's control API completes it), waited for deferred or in process."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from modelred_provider.operators.assessment import ModelRedAssessmentOperator

for dag_id, deferrable in (("e2e_modelred_deferred", True), ("e2e_modelred_in_process", False)):
    with DAG(dag_id=dag_id, schedule=None, catchup=False, tags=["e2e"]) as dag:
        ModelRedAssessmentOperator(
            task_id="assess",
            model="stuck-model",
            test_types=["reverse_psychology", "dan_classic"],
            deferrable=deferrable,
            poll_interval=1,
            timeout=timedelta(minutes=10),
            retries=1,
            retry_delay=timedelta(seconds=1),
        )
    globals()[dag_id] = dag
