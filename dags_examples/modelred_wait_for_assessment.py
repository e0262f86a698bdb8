"""Wait for an assessment started elsewhere (the ModelRed UI, a CI job, another DAG), then gate on it.

What it shows: ``ModelRedAssessmentSensor`` watches an existing assessment, here the run's
``assessment_id`` parameter (trigger the DAG with ``{"assessment_id": "..."}``; any template works,
e.g. ``{{ ti.xcom_pull(task_ids='launch', key='assessment_id') }}``). In deferrable mode the wait
runs on the triggerer; ``timeout`` and ``soft_fail`` behave as in poke mode. The sensor applies the
same quality gate and returns the same summary as the operator; ``report`` prints it.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Param, task

from modelred_provider.sensors.assessment import ModelRedAssessmentSensor

POLL_INTERVAL = float(os.environ.get("MODELRED_POLL_INTERVAL", "30"))

with DAG(
    dag_id="modelred_wait_for_assessment",
    description="Wait for an existing ModelRed assessment with the sensor, then gate on its score",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["modelred", "example"],
    params={"assessment_id": Param("", type="string", description="The ModelRed assessment to wait for")},
) as dag:
    wait = ModelRedAssessmentSensor(
        task_id="wait_for_assessment",
        assessment_id="{{ params.assessment_id }}",
        deferrable=True,
        poke_interval=POLL_INTERVAL,
        timeout=timedelta(hours=3).total_seconds(),
        min_score=60,
    )

    @task
    def report(summary: dict[str, Any]) -> None:
        print(
            f"Assessment {summary['assessment_id']} of {summary['model']}: score {summary['score']}, "
            f"risk {summary['risk_level']}, vulnerabilities {summary['vulnerabilities_by_severity']}"
        )

    report(wait.output)
