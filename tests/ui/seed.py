"""Summaries in a real Airflow metadata DB, as many as a test or the benchmark needs, without running tasks.

Rows go into ``dag_run``, ``task_instance`` and ``xcom`` through Airflow's own session, with the
foreign keys satisfied; each XCom value is a summary of the documented shape (docs/reference.md).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

BUNDLE = "modelred-ui-seed"
MODELS = ("gpt-4o-prod", "claude-safe", "llama-weak", "mistral-router")


def summary(model: str, score: float, *, passed: bool, assessment_id: str) -> dict[str, Any]:
    return {
        "assessment_id": assessment_id,
        "url": f"https://app.modelred.ai/assessments/{assessment_id}",
        "status": "COMPLETED",
        "status_raw": "COMPLETED",
        "model": model,
        "api_generation": "resources",
        "score": score,
        "risk_level": "low" if score >= 90 else "medium" if score >= 70 else "critical",
        "totals": {"tests": 20, "passed": int(score // 5), "failed": 20 - int(score // 5)},
        "pass_rate_by_category": {"jailbreak": score, "prompt_injection": min(100.0, score + 5)},
        "vulnerabilities_by_severity": {"critical": 0 if passed else 1, "high": 1, "medium": 0, "low": 2},
        "vulnerabilities_unknown": None,
        "failing_probes": [] if passed else ["dan_classic", "secret_echo"],
        "error": None,
        "gate": {"passed": passed, "reasons": [] if passed else [f"overall score {score:g} is below 70"]},
    }


def seed(
    session: Any, dag_id: str, count: int, *, task_id: str = "assess", start: datetime | None = None
) -> list[dict[str, Any]]:
    """``count`` runs of ``dag_id``, one summary each, models in turn, a minute apart; returns them."""
    from airflow.models.dag import DagModel
    from airflow.models.dagbundle import DagBundleModel
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel

    start = start or datetime(2026, 1, 1, tzinfo=UTC)
    if session.get(DagBundleModel, BUNDLE) is None:
        session.execute(insert(DagBundleModel.__table__).values(name=BUNDLE, active=True))
    # The DAG itself: the auth manager's readable DAG ids come from this table.
    session.execute(
        insert(DagModel.__table__).values(
            dag_id=dag_id,
            is_paused=False,
            is_stale=False,
            bundle_name=BUNDLE,
            timetable_type="",
            partition_mapper_info={},
            max_active_tasks=16,
            max_consecutive_failed_dag_runs=0,
            has_task_concurrency_limits=False,
        )
    )
    made = []
    for i in range(count):
        when = start + timedelta(minutes=i)
        run_id = f"seed__{dag_id}__{i:05d}"
        model = MODELS[i % len(MODELS)]
        score = float(40 + (i * 7) % 60)
        value = summary(model, score, passed=score >= 70, assessment_id=f"asm_{dag_id}_{i:05d}")
        run_pk = session.execute(
            insert(DagRun.__table__)
            .values(
                dag_id=dag_id,
                run_id=run_id,
                run_type="manual",
                state="success",
                run_after=when,
                logical_date=when,
                queued_at=when,
                start_date=when,
                end_date=when,
                clear_number=0,
                span_status="not_started",
            )
            .returning(DagRun.__table__.c.id)
        ).scalar_one()
        session.execute(
            insert(TaskInstance.__table__).values(
                id=uuid.uuid4(),
                dag_id=dag_id,
                run_id=run_id,
                task_id=task_id,
                map_index=-1,
                state="success" if value["gate"]["passed"] else "failed",
                try_number=1,
                max_tries=0,
                pool="default_pool",
                pool_slots=1,
                operator="ModelRedAssessmentOperator",
                span_status="not_started",
            )
        )
        session.execute(
            insert(XComModel.__table__).values(
                dag_run_id=run_pk,
                dag_id=dag_id,
                run_id=run_id,
                task_id=task_id,
                map_index=-1,
                key="assessment_summary",
                value=value,
                timestamp=when,
            )
        )
        made.append({"run_id": run_id, "when": when, **value})
    session.commit()
    return made
