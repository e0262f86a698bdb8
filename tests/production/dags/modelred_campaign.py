"""The production campaign's DAGs (tests/production): one mapped, deferrable assessment per model.

The models come from the environment (MODELRED_CAMPAIGN_MODELS, comma-separated), so every component
parses the same list; the emulator's scenario gives each model its outcome.
"""

from __future__ import annotations

import os
from datetime import timedelta

from airflow.sdk import DAG

from modelred_provider.operators.assessment import ModelRedAssessmentOperator

MODELS = [m for m in os.environ.get("MODELRED_CAMPAIGN_MODELS", "").split(",") if m]
WATCH_MODELS = [m for m in os.environ.get("MODELRED_STREAM_MODELS", "").split(",") if m]

with DAG(
    dag_id="modelred_campaign",
    schedule=None,
    catchup=False,
    max_active_tasks=128,
    tags=["production"],
):
    ModelRedAssessmentOperator.partial(
        task_id="assess",
        test_types=["reverse_psychology", "dan_classic"],
        deferrable=True,
        poll_interval=2,
        timeout=float(os.environ.get("MODELRED_CAMPAIGN_TIMEOUT", "45")),
        min_score=60,
        retries=2,
        retry_delay=timedelta(seconds=2),
    ).expand(model=MODELS)

# Shared streams with two triggerers: assessments that run until the test completes them.
with DAG(
    dag_id="modelred_stream",
    schedule=None,
    catchup=False,
    max_active_tasks=128,
    tags=["production"],
):
    ModelRedAssessmentOperator.partial(
        task_id="assess",
        test_types=["reverse_psychology", "dan_classic"],
        deferrable=True,
        poll_interval=2,
        timeout=600,
        retries=1,
        retry_delay=timedelta(seconds=2),
    ).expand(model=WATCH_MODELS)
