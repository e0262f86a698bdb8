"""bench/dag_parse.py: a DAG with our operator and sensor (what a user's release-gate DAG file imports)."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from modelred_provider.operators.assessment import ModelRedAssessmentOperator
from modelred_provider.sensors.assessment import ModelRedAssessmentSensor

with DAG(dag_id="parse_modelred", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    assess = ModelRedAssessmentOperator(task_id="assess", model="gpt-4o-prod", test_types=["jailbreak"])
    wait = ModelRedAssessmentSensor(task_id="wait", assessment_id="asm_1")
    assess >> wait
