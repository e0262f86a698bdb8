"""bench/dag_parse.py: the same DAG shape with the dbt Cloud provider's operator and sensor."""

from __future__ import annotations

from datetime import datetime

from airflow.providers.dbt.cloud.operators.dbt import DbtCloudRunJobOperator
from airflow.providers.dbt.cloud.sensors.dbt import DbtCloudJobRunSensor
from airflow.sdk import DAG

with DAG(dag_id="parse_dbt_cloud", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    run = DbtCloudRunJobOperator(task_id="assess", job_id=1)
    DbtCloudJobRunSensor(task_id="wait", run_id=1) >> run
