"""OpenLineage facets without a run (the emitted events: tests/examples/test_release_pipeline_lineage.py)."""

from __future__ import annotations

# The openlineage provider is in the test extra: without it these tests fail, never skip.
import airflow.providers.openlineage  # noqa: F401

from modelred_provider.operators.lineage import RUN_FACET_NAME, dataset_namespace, lineage_of


def test_the_namespace_is_the_service_origin() -> None:
    assert dataset_namespace("https://app.modelred.ai") == "modelred://app.modelred.ai"
    assert dataset_namespace("https://App.ModelRed.ai:8443") == "modelred://app.modelred.ai:8443"
    assert dataset_namespace("http://127.0.0.1:8765") == "modelred://127.0.0.1:8765"


def test_without_a_summary_only_the_launch_is_reported() -> None:
    lineage = lineage_of("gpt-4o-prod", "https://app.modelred.ai", None, "asm_1")
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("modelred://app.modelred.ai", "gpt-4o-prod")]
    facet = lineage.run_facets[RUN_FACET_NAME]
    assert facet.assessmentId == "asm_1" and facet.score is None and facet.gatePassed is None
