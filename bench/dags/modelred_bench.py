"""DAGs for bench/airflow_run.py: one ModelRed assessment, deferrable or holding its worker.

The poll interval comes from MODELRED_BENCH_POLL (seconds, default 5), set by the benchmark.
"""

from __future__ import annotations

import os

from airflow.sdk import DAG, task

from modelred_provider.operators.assessment import ModelRedAssessmentOperator

POLL = float(os.environ.get("MODELRED_BENCH_POLL", "5"))

for dag_id, deferrable in (("modelred_bench_deferrable", True), ("modelred_bench_blocking", False)):
    with DAG(dag_id=dag_id, schedule=None, catchup=False, max_active_runs=16, tags=["bench"]) as dag:
        ModelRedAssessmentOperator(
            task_id="assess",
            model="gpt-4o-prod",
            test_types=["reverse_psychology"],
            deferrable=deferrable,
            poll_interval=POLL,
        )
    globals()[dag_id] = dag

# Warms the executor and a worker up before the measured runs (a cold first task waits in "queued").
with DAG(dag_id="modelred_bench_warmup", schedule=None, catchup=False, tags=["bench"]) as warmup_dag:

    @task
    def warm() -> int:
        return 1

    warm()
