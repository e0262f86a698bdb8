"""Downstream of a passing assessment: a DAG scheduled on the asset the release gate emits.

What it shows: ``modelred_release_gate``'s assessment task emits an event on ``MODEL_PASSED`` only
when the model passes its quality gate. This DAG is scheduled on that asset, so it runs once per
passing assessment, and reads the event's extra (``assessment_id``, ``score``, ``risk_level``,
``passed``, ``model``) from ``triggering_asset_events``: e.g. to promote the model, refresh a model
card or notify a channel.

The asset is declared again here with the same name and URI (Airflow matches assets by them), so
this file does not import another DAG file.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Asset, task

MODEL_PASSED = Asset(name="modelred_model_passed", uri="modelred://assessments/release-gate/passed")

with DAG(
    dag_id="modelred_deploy_on_passing_assessment",
    description="Runs after every passing ModelRed release assessment",
    schedule=[MODEL_PASSED],
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["modelred", "example"],
) as dag:

    @task
    def promote_model(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        """Read the score and risk level the assessment attached to the asset event."""
        promoted = []
        for event in (triggering_asset_events or {}).get(MODEL_PASSED, []):
            extra = dict(event.extra or {})
            print(
                f"Promoting {extra.get('model')}: score {extra.get('score')}, risk {extra.get('risk_level')} "
                f"(assessment {extra.get('assessment_id')})"
            )
            promoted.append(extra)
        if not promoted:
            print("No asset event (a manual run): nothing to promote.")
        return promoted

    promote_model()
