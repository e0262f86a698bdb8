"""bench/dag_parse.py: the same DAG shape with BaseOperator only (what any DAG file pays)."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, BaseOperator

with DAG(dag_id="parse_base", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    BaseOperator(task_id="assess") >> BaseOperator(task_id="wait")
