"""OpenLineage for the assessment operator: the model as input dataset, the outcome as a run facet.

Imported only by ``ModelRedAssessmentOperator.get_openlineage_facets_on_complete`` / ``_on_failure``,
which apache-airflow-providers-openlineage's listener calls after the task; never at DAG parse, and
not at all without that provider (the ``openlineage`` extra).

- Input dataset: namespace ``modelred://<host[:port]>`` of the connection's origin (the ModelRed
  service: ``modelred://app.modelred.ai``), name the model's slug.
- Run facet ``modelred_assessment`` (:class:`ModelRedAssessmentRunFacet`): assessment id, status, model,
  score, risk level, the gate's verdict and reasons, the baseline's id, the dashboard URL. Nothing else
  of the connection (never the key) goes into the event.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from airflow.providers.openlineage.extractors import OperatorLineage
from attrs import define, field
from openlineage.client.event_v2 import Dataset
from openlineage.client.facet_v2 import RunFacet

__all__ = ["RUN_FACET_NAME", "ModelRedAssessmentRunFacet", "dataset_namespace", "lineage_of"]

#: The key of the custom run facet in an event's ``run.facets``.
RUN_FACET_NAME = "modelred_assessment"


@define
class ModelRedAssessmentRunFacet(RunFacet):
    """What the assessment found: the verdict a lineage consumer needs to trust the model downstream."""

    assessmentId: str | None  # OpenLineage facets spell their fields in camelCase
    model: str | None
    status: str | None
    score: float | None
    riskLevel: str | None
    gatePassed: bool | None
    gateReasons: list[str] = field(factory=list)
    baselineAssessmentId: str | None = None
    url: str | None = None

    @staticmethod
    def _get_schema() -> str:  # the facet's ``_schemaURL`` (OpenLineage asks custom facets for one)
        return "https://github.com/modelred/airflow-provider-modelred/blob/main/docs/reference.md#openlineage"


def dataset_namespace(origin: str) -> str:
    """``modelred://`` and the origin's host (and port): the ModelRed service the model lives in."""
    netloc = urlsplit(origin).netloc.rsplit("@", 1)[-1].lower()
    return f"modelred://{netloc}"


def lineage_of(
    model: str, origin: str, summary: dict[str, Any] | None, assessment_id: str | None
) -> OperatorLineage:
    """Build the task's lineage: the model as input; the run facet from the summary (or just the id)."""
    summary = summary or {}
    gate = summary.get("gate") or {}
    baseline = summary.get("baseline") or {}
    facet = ModelRedAssessmentRunFacet(
        assessmentId=summary.get("assessment_id") or assessment_id,
        model=summary.get("model") or model,
        status=summary.get("status"),
        score=summary.get("score"),
        riskLevel=summary.get("risk_level"),
        gatePassed=gate.get("passed"),
        gateReasons=list(gate.get("reasons") or []),
        baselineAssessmentId=baseline.get("assessment_id"),
        url=summary.get("url"),
    )
    return OperatorLineage(
        inputs=[Dataset(namespace=dataset_namespace(origin), name=str(summary.get("model") or model))],
        run_facets={RUN_FACET_NAME: facet},
    )
