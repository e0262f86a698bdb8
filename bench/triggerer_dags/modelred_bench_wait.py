"""The DAG whose deferred task instances bench/real_triggerer.py hands to a real ``airflow triggerer``.

``wait`` is the task whose N map indexes wait on N assessments; ``probe`` carries the loop-lag probe.
Neither runs on a worker: the benchmark writes their deferred rows into the metadata database.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, BaseOperator

with DAG(dag_id="modelred_bench_wait", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    BaseOperator(task_id="wait")
    BaseOperator(task_id="probe")
