"""ModelRedAssessmentReportOperator: keep the full report of an assessment that already ended.

For an assessment launched elsewhere (the ModelRed UI, another DAG, a ``ModelRedAssessmentSensor``
upstream), it writes the same ``report.json`` and ``report.html`` as the assessment operator's
``report_path`` (``modelred_provider.operators.report``). Importing this module at DAG parse imports
only the base class and the parameter checks; the hook and the rendering load when the task runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from modelred_provider.api.vocabulary import ApiGeneration
from modelred_provider.operators.validation import check_api_generation, check_identifier, is_templated

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

__all__ = ["ModelRedAssessmentReportOperator"]


class ModelRedAssessmentReportOperator(BaseOperator):
    """Write the full report of a finished ModelRed assessment as JSON and HTML to object storage.

    :param assessment_id: the assessment (templated), e.g.
        ``"{{ ti.xcom_pull(task_ids='wait', key='assessment_id') }}"``. It must have ended (COMPLETED,
        FAILED or CANCELLED); one still running fails the task (wait with ``ModelRedAssessmentSensor``).
    :param report_path: the folder to write ``report.json`` and ``report.html`` into (templated): an
        object-storage URL (``s3://bucket/modelred/{{ run_id }}``, ``file:///...``) or an
        ``airflow.sdk.ObjectStoragePath``.
    :param report_conn_id: the Airflow connection of that object storage (e.g. an ``aws`` connection).
    :param api_generation: ``resources`` (default) or ``v2``: the API the assessment was launched through.
    :param modelred_conn_id: the ModelRed connection.

    Returns (XCom ``return_value``) ``{"json": url, "html": url}``. The report carries no gate verdict
    (``summary["gate"]`` is null): gate in the task that launched or watched the assessment.
    """

    template_fields: Sequence[str] = ("assessment_id", "report_path", "modelred_conn_id", "api_generation")
    ui_color = "#fde2e4"

    def __init__(
        self,
        *,
        assessment_id: str,
        report_path: Any,
        report_conn_id: str | None = None,
        api_generation: str = ApiGeneration.RESOURCES.value,
        modelred_conn_id: str = "modelred_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_identifier(assessment_id, "assessment_id")
        if not report_path or (isinstance(report_path, str) and not report_path.strip()):
            raise ValueError(
                "report_path is required: the folder URL to write report.json and report.html to."
            )
        self.assessment_id = assessment_id
        self.report_path = report_path
        self.report_conn_id = report_conn_id
        self.api_generation = check_api_generation(api_generation)
        self.modelred_conn_id = modelred_conn_id

    def execute(self, context: Context) -> dict[str, str]:
        from modelred_provider.exceptions import ModelRedAssessmentError
        from modelred_provider.hooks.modelred import ModelRedHook
        from modelred_provider.operators.report import build_report, write_report
        from modelred_provider.operators.summary import build_summary

        if is_templated(self.assessment_id):
            raise ValueError(f"assessment_id={self.assessment_id!r} was not rendered")
        check_identifier(self.assessment_id, "assessment_id")
        with ModelRedHook(modelred_conn_id=self.modelred_conn_id) as hook:
            generation = ApiGeneration(check_api_generation(self.api_generation, rendered=True))
            assessment = hook.get_assessment(self.assessment_id, generation)
            if not assessment.status.is_terminal:
                raise ModelRedAssessmentError(
                    f"Assessment {assessment.id} is {assessment.status.value}: it has no final report yet. "
                    "Wait for it first (ModelRedAssessmentSensor).",
                    assessment_id=assessment.id,
                )
            model = assessment.model_id
            if model:
                try:  # the summary names the model by its slug, as the operator and the sensor do
                    model = hook.get_model(model).model_id or model
                except Exception as error:
                    self.log.warning("Could not resolve the slug of model %s: %s", model, error)
            ti = context.get("ti")
            summary = build_summary(
                assessment,
                url=assessment.url or hook.assessment_url(assessment.id),
                model=model,
                gate=None,
                airflow_task={
                    name: getattr(ti, name, None)
                    for name in ("dag_id", "run_id", "task_id", "map_index", "try_number")
                },
            )
        written = write_report(
            build_report(assessment, summary), self.report_path, conn_id=self.report_conn_id
        )
        self.log.info("Kept the full report of assessment %s: %s and %s", assessment.id, *written.values())
        return written
