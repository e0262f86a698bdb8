"""DAGs run with ``dag.test()`` by ``tests/dags``: each case in a deferrable and an in-process variant.

The connection ``modelred_default`` points at the test's emulator (set by the fixture).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, Asset, task

from modelred_provider.operators.assessment import ModelRedAssessmentOperator
from modelred_provider.operators.model import ModelRedDeleteModelOperator, ModelRedRegisterModelOperator
from modelred_provider.sensors.assessment import ModelRedAssessmentSensor

START = datetime(2026, 1, 1)
PASSED_ASSET = Asset("modelred://gpt-4o-prod/passed")


class DiesAfterLaunchOperator(ModelRedAssessmentOperator):
    """Test only: the first try dies right after the assessment id reached the task state store,
    as a worker would if it crashed there."""

    def _launch(self, context):
        assessment = super()._launch(context)
        if context["ti"].try_number == 1:
            raise RuntimeError(f"simulated worker death right after launching {assessment.id}")
        return assessment


COMMON = {"poll_interval": 0.3, "timeout": 60, "retry_budget": 5}
DAGS: dict[str, DAG] = {}


def _dag(dag_id: str) -> DAG:
    dag = DAG(dag_id, schedule=None, start_date=START, catchup=False)
    DAGS[dag_id] = dag
    return dag


for mode, deferrable in (("sync", False), ("deferrable", True)):
    with _dag(f"mr_pass_{mode}"):
        ModelRedAssessmentOperator(
            task_id="assess",
            model="gpt-4o-prod",
            probe_severities=["critical", "high"],
            min_score=60,
            max_risk_level="medium",
            deferrable=deferrable,
            asset=PASSED_ASSET,
            **COMMON,
        )

    with _dag(f"mr_failed_{mode}"):
        ModelRedAssessmentOperator(
            task_id="assess",
            model="broken-endpoint",
            probe_categories=["jailbreak"],
            deferrable=deferrable,
            retries=1,
            retry_delay=timedelta(seconds=0),
            **COMMON,
        )

    with _dag(f"mr_gate_{mode}"):
        ModelRedAssessmentOperator(
            task_id="assess",
            model="llama-weak",
            probe_categories=["jailbreak", "prompt_injection"],
            min_score=70,
            fail_on_severities=["critical"],
            deferrable=deferrable,
            retries=1,
            retry_delay=timedelta(seconds=0),
            **COMMON,
        )

    with _dag(f"mr_timeout_{mode}"):
        ModelRedAssessmentOperator(
            task_id="assess",
            model="stuck-model",
            probe_pack_ids=["pack_owasp_llm_top10"],
            deferrable=deferrable,
            poll_interval=0.3,
            timeout=1.5,
        )

    with _dag(f"mr_retry_{mode}"):
        DiesAfterLaunchOperator(
            task_id="assess",
            model="gpt-4o-prod",
            probe_categories=["jailbreak"],
            deferrable=deferrable,
            retries=1,
            retry_delay=timedelta(seconds=0),
            **COMMON,
        )

for mode in ("poke", "reschedule", "deferrable"):
    with _dag(f"mr_sensor_{mode}"):
        launch = ModelRedAssessmentOperator(
            task_id="launch",
            model="gpt-4o-prod",
            probe_severities=["critical", "high"],
            wait_for_completion=False,
        )
        wait = ModelRedAssessmentSensor(
            task_id="wait",
            assessment_id="{{ ti.xcom_pull(task_ids='launch', key='assessment_id') }}",
            min_score=60,
            max_risk_level="medium",
            poke_interval=0.3,
            timeout=60,
            mode="reschedule" if mode == "reschedule" else "poke",
            deferrable=mode == "deferrable",
        )
        launch >> wait

    with _dag(f"mr_sensor_timeout_{mode}"):
        launch = ModelRedAssessmentOperator(
            task_id="launch",
            model="stuck-model",
            probe_categories=["jailbreak"],
            wait_for_completion=False,
        )
        wait = ModelRedAssessmentSensor(
            task_id="wait",
            assessment_id="{{ ti.xcom_pull(task_ids='launch', key='assessment_id') }}",
            poke_interval=0.3,
            timeout=1.5,
            soft_fail=True,
            mode="reschedule" if mode == "reschedule" else "poke",
            deferrable=mode == "deferrable",
        )
        launch >> wait


# Branch on the verdict (fail_on_gate=False): the task succeeds either way, a branch routes on
# summary["gate"]["passed"], and the asset's event (through an alias) is emitted only for a pass.
BRANCH_ASSET = Asset("modelred://branch-on-verdict/passed")


@task.branch
def route(summary: dict) -> str:
    return "deploy" if summary["gate"]["passed"] else "review"


for mode, deferrable in (("sync", False), ("deferrable", True)):
    with _dag(f"mr_branch_{mode}"):
        verdict = ModelRedAssessmentOperator(
            task_id="assess",
            model="{{ dag_run.conf.get('model', 'gpt-4o-prod') }}",
            probe_severities=["critical", "high"],
            min_score=70,
            max_risk_level="medium",
            fail_on_severities=["critical"],
            fail_on_gate=False,
            deferrable=deferrable,
            asset=BRANCH_ASSET,
            **COMMON,
        )
        route(verdict.output) >> [EmptyOperator(task_id="deploy"), EmptyOperator(task_id="review")]


# Register a candidate model (credentials from the connection "target_llm"), assess it, delete it as a
# teardown (only because this run created it).
with _dag("mr_register_assess_delete"):
    register = ModelRedRegisterModelOperator(
        task_id="register",
        model_id="{{ dag_run.conf.get('model_id', 'candidate-bot') }}",
        provider="openai",
        display_name="Candidate bot",
        provider_config={"model": "gpt-4o-mini", "temperature": 0},
        provider_conn_id="target_llm",
    )
    assess_candidate = ModelRedAssessmentOperator(
        task_id="assess",
        model="{{ ti.xcom_pull(task_ids='register')['model_id'] }}",
        probe_categories=["jailbreak"],
        min_score=70,
        **COMMON,
    )
    delete = ModelRedDeleteModelOperator(task_id="delete", registered_by="register")
    register >> assess_candidate >> delete.as_teardown(setups=register)
