"""Nightly scan: red-team every active model registered in ModelRed, one mapped task per model.

What it shows: dynamic task mapping over what the hook lists. ``list_active_models`` asks ModelRed
for the active models (``ModelRedHook.list_models(status="active")``, every page); ``scan`` is a
``ModelRedAssessmentOperator`` expanded over them, deferred while the assessments run side by side,
each with a gate (an assessment that fails or a gate that is not met fails that model's task
instance, which is what alerts you). ``summarise`` runs whatever happened and logs one line per model
that produced a summary, worst score first.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task

from modelred_provider.operators.assessment import ModelRedAssessmentOperator

POLL_INTERVAL = float(os.environ.get("MODELRED_POLL_INTERVAL", "60"))

with DAG(
    dag_id="modelred_nightly_scan",
    description="Red-team every active ModelRed model every night",
    schedule="0 2 * * *",
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["modelred", "example"],
) as dag:

    @task
    def list_active_models() -> list[str]:
        """The slugs of every active model (the hook follows pagination to the end)."""
        from modelred_provider.hooks.modelred import ModelRedHook

        hook = ModelRedHook(modelred_conn_id="modelred_default")
        try:
            models = hook.list_models(status="active")
        finally:
            hook.close()
        slugs = sorted(m.model_id or m.id for m in models if m.is_active)
        print(f"{len(slugs)} active models to scan: {slugs}")
        return slugs

    scan = ModelRedAssessmentOperator.partial(
        task_id="scan",
        probe_categories=["prompt_injection", "jailbreak"],
        probe_severities=["critical", "high"],
        priority="low",
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        timeout=timedelta(hours=4),
        min_score=70,
        max_active_tis_per_dag=8,
    ).expand(model=list_active_models())

    @task(trigger_rule="all_done")
    def summarise(summaries: Any) -> list[dict[str, Any]]:
        rows = sorted(
            ({"model": s["model"], "score": s["score"], "risk_level": s["risk_level"]} for s in summaries),
            key=lambda row: row["score"] if row["score"] is not None else -1,
        )
        for row in rows:
            print(f"{row['model']:<24} score {row['score']!s:>5}  risk {row['risk_level']}")
        return rows

    summarise(scan.output)
