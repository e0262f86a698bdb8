"""ModelRedAssessmentOperator: launch a ModelRed assessment, wait for it (deferred or not), gate on it.

Importing this module (the DAG processor does it for every DAG file) imports only what defining the
class needs: the base class, the completion mixin, the extra link, plain constants and the parameter
checks. The dataclasses, the hook (and with it ``requests``/``aiohttp``), the poll policy, the gate,
the summary and the trigger are imported when the task runs.

Retries never duplicate an assessment. Before the first POST (and before any resend) the launch
*intent* is kept in the task state store (Airflow 3.3, AIP-103) under ``STATE_KEY``: model, probe set,
priority, API generation, a launch token, the launch's start time, when the POST left and when it is
answered or given up on, and the ids listed just before it (the hook's ``on_intent``; plain JSON,
never a secret). Once ModelRed answers, the record is replaced by the assessment id. A retry reads it
back: an id -> reattach to a running assessment or take a completed one's result (after a failed or
cancelled one, launch afresh); an intent -> the worker died during the launch, so it first runs the
hook's create-once lookup (``find_launched``: the same matching rule as within one call) and adopts
what that launch created, waiting out a POST that may still be in flight before a second look; only
when nothing is found does it launch anew. The record is deleted once the outcome is final.

If the intent cannot be written, nothing is sent (fail closed): the try fails and its retry reads the
store again. This also covers a try that Airflow reset as orphaned (its store writes answer 404): it
can no longer write an intent, so it can no longer launch or resend, while the next try sees any
intent it wrote before the reset. Without a task state store in the context (older Airflow, tests
calling ``execute`` directly) a warning is logged and every try launches its own assessment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from airflow.sdk import BaseOperator, conf

from modelred_provider.api.vocabulary import PRIORITIES, ApiGeneration
from modelred_provider.links.assessment import ModelRedAssessmentLink
from modelred_provider.operators.completion import AssessmentCompletionMixin
from modelred_provider.operators.validation import (
    as_list,
    check_flag,
    check_gate_params,
    check_identifier,
    check_regression_params,
    check_severities,
    gate_outlets,
    is_templated,
)
from modelred_provider.waiting.parameters import (
    DEFAULT_ASSESSMENT_TIMEOUT,
    DEFAULT_RETRY_BUDGET,
    check_positive,
    check_retry_budget,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import timedelta

    from airflow.sdk import Asset, Context

    from modelred_provider.api.models import Assessment
    from modelred_provider.operators.gate import GateVerdict

#: Key of the launch in the task state store: while launching {"model", "launching": <intent>} (written
#: before every POST), then {"assessment_id", "api_generation", "model"}; deleted once the outcome is final.
STATE_KEY = "modelred_assessment"

#: XCom key of the kept report's URLs, ``{"json": ..., "html": ...}`` (``report_path``).
XCOM_REPORT = "assessment_report"

#: The default ``map_index_template``: a mapped task instance is labelled by its model in the UI
#: (``gpt-4o-prod`` instead of ``0``). A parameter default, so ``.partial()`` picks it up too.
DEFAULT_MAP_INDEX_TEMPLATE = "{{ task.model }}"

__all__ = ["DEFAULT_MAP_INDEX_TEMPLATE", "STATE_KEY", "XCOM_REPORT", "ModelRedAssessmentOperator"]


class ModelRedAssessmentOperator(AssessmentCompletionMixin, BaseOperator):
    """Run a ModelRed red-team assessment of ``model`` and fail the task if the model is not safe enough.

    :param model: the model's slug (``modelId``) or id.
    :param test_types: probe keys to run (resources API). Exactly one of ``test_types``,
        ``probe_pack_ids`` or a selection (``probe_categories`` and/or ``probe_severities``).
    :param probe_pack_ids: probe pack ids to run (v2 API).
    :param probe_categories: run every active probe of these categories (resolved from the catalogue
        when the task runs, like the ModelRed SDK).
    :param probe_severities: run every active probe of these severities (can combine with categories).
    :param priority: ``low``, ``normal``, ``high`` or ``critical``.
    :param wait_for_completion: wait for the result (default); if false, return right after the launch.
    :param deferrable: wait on the triggerer, holding no worker slot.
    :param poll_interval: seconds between two status checks.
    :param timeout: seconds (or a ``timedelta``) the assessment may take before the task fails (and
        tries to cancel it); the task's ``execution_timeout`` also caps the wait, deferred or not.
        Default 6 hours (``DEFAULT_ASSESSMENT_TIMEOUT``): several times what a full red-team
        run takes, so a stuck assessment ends the task the same day instead of never; ``None`` waits
        without a deadline of its own (only ``execution_timeout`` then ends it).
    :param min_score: quality gate: the lowest acceptable overall score (0..100, higher is safer).
    :param max_risk_level: quality gate: the highest acceptable risk level (low, medium, high, critical).
    :param fail_on_severities: quality gate: fail on any vulnerability of these severities.
    :param max_score_drop: regression gate: the most the overall score may fall below the baseline's
        (points). The baseline is ``baseline_assessment_id`` or else the newest earlier COMPLETED
        assessment of the same model and probe set in ModelRed's list (the 100 newest completed ones);
        the summary's ``baseline`` says which it was and by how much the score moved.
    :param fail_on_new_critical: regression gate: fail when a probe has a critical finding (or one of
        unknown severity) that the baseline did not have.
    :param baseline_assessment_id: the assessment to compare with (templated), instead of looking it up.
        One that is not found, not COMPLETED or without a report fails the gate.
    :param require_baseline: with regression criteria and no baseline found, fail (default: pass, and
        the summary's ``baseline.note`` says the regression criteria were not applied).
    :param fail_on_gate: True (default): a model that does not pass fails the task
        (``ModelRedQualityGateError``). False: the task succeeds and returns the summary with the verdict
        in ``summary["gate"]["passed"]`` and ``["reasons"]``, for ``@task.branch`` or
        ``ShortCircuitOperator`` to route on; the ``asset`` event is still emitted only for a pass. A
        FAILED assessment or a timeout still fails the task; a baseline that cannot be read is a gate
        the model does not pass.
    :param retry_budget: transient polling failures tolerated in a row (with backoff).
    :param asset: an Asset to emit an event for when the model passes, with extra
        ``{assessment_id, score, risk_level, passed, model, airflow_task}`` (needs ``wait_for_completion``).
        ``airflow_task`` is ``{dag_id, run_id, task_id, map_index, try_number}``: ModelRed's API gives an
        assessment no name or description, so this is where the run that launched it is recorded.
    :param report_path: keep the full report (templated): a folder URL, e.g.
        ``"s3://reports/modelred/{{ dag.dag_id }}/{{ run_id }}/{{ ti.map_index }}"`` or ``file:///...``,
        or an ``airflow.sdk.ObjectStoragePath``. Once the assessment ends (COMPLETED or FAILED, gate
        passed or not) the task writes ``report.json`` (the summary, every probe result, every failing
        probe and vulnerability) and ``report.html`` (one self-contained page: score, risk, pass rate per
        category with an SVG chart, failing probes, vulnerabilities; no script, no external resource)
        there, and pushes their URLs as XCom ``assessment_report`` (``{"json", "html"}``). Needs
        ``wait_for_completion``. Any filesystem Airflow's object storage knows (``s3://`` needs
        ``apache-airflow-providers-amazon[s3fs]``, ...).
    :param report_conn_id: the Airflow connection of that object storage (e.g. an ``aws`` connection);
        default: the filesystem's own default.
    :param map_index_template: Airflow's label of a mapped task instance; by default the model
        (``DEFAULT_MAP_INDEX_TEMPLATE``), so ``.partial(...).expand(model=[...])`` shows each model.

    The gate parameters and ``asset`` need ``wait_for_completion=True``: without waiting there is no
    result to judge, so passing them is refused at DAG parse instead of being silently ignored.

    Returns the JSON summary (see :func:`modelred_provider.operators.summary.build_summary`), identical
    in every mode; it is also pushed to XCom as ``assessment_summary`` before any failure is raised.

    OpenLineage (with apache-airflow-providers-openlineage, the ``openlineage`` extra): the model is the
    task's input dataset (namespace ``modelred://<host>`` of the connection's origin, name its slug) and
    the run facet ``modelred_assessment`` carries the assessment id, score, risk and the gate's verdict.
    """

    template_fields: Sequence[str] = (
        "model",
        "test_types",
        "probe_pack_ids",
        "probe_categories",
        "probe_severities",
        "priority",
        "min_score",
        "max_risk_level",
        "fail_on_severities",
        "max_score_drop",
        "baseline_assessment_id",
        "report_path",
        "modelred_conn_id",
    )
    template_fields_renderers = dict.fromkeys(
        ("test_types", "probe_pack_ids", "probe_categories", "probe_severities", "fail_on_severities"), "json"
    )
    operator_extra_links = (ModelRedAssessmentLink(),)
    ui_color = "#fde2e4"
    cancel_on_kill = True

    def __init__(
        self,
        *,
        model: str,
        modelred_conn_id: str = "modelred_default",
        test_types: list[str] | str | None = None,
        probe_pack_ids: list[str] | str | None = None,
        probe_categories: list[str] | str | None = None,
        probe_severities: list[str] | str | None = None,
        priority: str = "normal",
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 30,
        timeout: float | timedelta | None = DEFAULT_ASSESSMENT_TIMEOUT,
        min_score: float | str | None = None,
        max_risk_level: str | None = None,
        fail_on_severities: list[str] | str | None = None,
        max_score_drop: float | str | None = None,
        fail_on_new_critical: bool = False,
        baseline_assessment_id: str | None = None,
        require_baseline: bool = False,
        fail_on_gate: bool = True,
        retry_budget: int = DEFAULT_RETRY_BUDGET,
        asset: Asset | None = None,
        report_path: Any = None,
        report_conn_id: str | None = None,
        map_index_template: str | None = DEFAULT_MAP_INDEX_TEMPLATE,
        **kwargs: Any,
    ) -> None:
        if not wait_for_completion:
            # Without waiting the task ends at the launch: a gate would never be applied.
            ignored = [
                name
                for name, value in (
                    ("min_score", min_score),
                    ("max_risk_level", max_risk_level),
                    ("fail_on_severities", fail_on_severities),
                    ("max_score_drop", max_score_drop),
                    ("fail_on_new_critical", fail_on_new_critical or None),
                    ("baseline_assessment_id", baseline_assessment_id),
                    ("require_baseline", require_baseline or None),
                    ("report_path", report_path or None),
                )
                if value is not None and value != [] and value != ()
            ]
            if ignored:
                raise ValueError(
                    f"{', '.join(ignored)} need{'s' if len(ignored) == 1 else ''} wait_for_completion=True: "
                    "without waiting there is no result to gate on. Wait here, or gate in a "
                    "ModelRedAssessmentSensor downstream."
                )
            if asset is not None:
                # Airflow records an outlet's event whenever the task succeeds: without waiting, that
                # would announce a pass for a model whose assessment has not even run.
                raise ValueError(
                    "asset needs wait_for_completion=True: its event says the model passed its assessment."
                )
        outlets, alias = gate_outlets(asset, fail_on_gate, kwargs.get("outlets"))
        if asset is not None:
            kwargs["outlets"] = outlets
        super().__init__(map_index_template=map_index_template, **kwargs)
        self._asset_alias = alias
        self.model = model
        self.modelred_conn_id = modelred_conn_id
        self.test_types = test_types
        self.probe_pack_ids = probe_pack_ids
        self.probe_categories = probe_categories
        self.probe_severities = probe_severities
        self.priority = priority
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        # check_positive raises on None unless allow_none: a number from here on.
        self.poll_interval = cast("float", check_positive(poll_interval, "poll_interval"))
        self.timeout = check_positive(timeout, "timeout", allow_none=True)
        self.min_score = min_score
        self.max_risk_level = max_risk_level
        self.fail_on_severities = fail_on_severities
        self.max_score_drop = max_score_drop
        self.fail_on_new_critical = check_flag(fail_on_new_critical, "fail_on_new_critical")
        self.baseline_assessment_id = baseline_assessment_id
        self.require_baseline = check_flag(require_baseline, "require_baseline")
        self.fail_on_gate = fail_on_gate
        self.retry_budget = check_retry_budget(retry_budget)
        self.asset = asset
        self.report_path = report_path
        self.report_conn_id = report_conn_id
        self._validate(at_parse=True)

    # --- validation ---------------------------------------------------------------------------

    def _validate(self, *, at_parse: bool) -> None:
        """Check the parameters: static mistakes fail at DAG parse, templated values when the task runs."""
        check_identifier(self.model, "model")
        choices = {
            "test_types": self.test_types,
            "probe_pack_ids": self.probe_pack_ids,
            "probe_categories/probe_severities": self.probe_categories or self.probe_severities,
        }
        chosen = [name for name, value in choices.items() if value is not None and value != []]
        if len(chosen) != 1:
            raise ValueError(
                f"Choose exactly one way to pick probes, got {chosen or 'none'}: pass one of {list(choices)}."
            )
        for name in ("test_types", "probe_pack_ids", "probe_categories", "probe_severities"):
            value = getattr(self, name)
            if value is not None and not (at_parse and is_templated(value)):
                items = as_list(value, name)
                if name == "probe_severities":
                    check_severities(items, name)
        priority_ok = isinstance(self.priority, str) and self.priority.strip().lower() in PRIORITIES
        if not priority_ok and not (at_parse and is_templated(self.priority)):
            raise ValueError(
                f"priority={self.priority!r} is not a ModelRed priority: use one of {list(PRIORITIES)}."
            )
        check_gate_params(self.min_score, self.max_risk_level, self.fail_on_severities)
        check_regression_params(self.max_score_drop, self.baseline_assessment_id if at_parse else None)

    def _api_generation(self) -> ApiGeneration:
        return ApiGeneration.V2 if self.probe_pack_ids is not None else ApiGeneration.RESOURCES

    def _model_label(self, assessment: Assessment) -> str | None:
        # The slug the task was given; given the model's id instead, the same slug the sensor shows.
        return self.model if self.model != assessment.model_id else self._resolve_slug(self.model)

    def _alert_model(self, assessment: Assessment | None) -> str | None:
        return self._model_label(assessment) if assessment is not None else self.model

    def _publish(
        self,
        context: Context,
        assessment: Assessment,
        verdict: GateVerdict | None,
        *,
        baseline: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Return the summary; with ``report_path``, keep the full report (before a gate failure raises)."""
        summary = super()._publish(context, assessment, verdict, baseline=baseline)
        if self.report_path:
            from modelred_provider.operators.report import build_report, write_report

            written = write_report(
                build_report(assessment, summary), self.report_path, conn_id=self.report_conn_id
            )
            context["ti"].xcom_push(key=XCOM_REPORT, value=written)
            self.log.info("Kept the full report: %s and %s", written["json"], written["html"])
        self._lineage_summary = summary
        return summary

    # --- OpenLineage (apache-airflow-providers-openlineage calls these after the task) --------------

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Return the assessed model as an input dataset and the run facet ``modelred_assessment``.

        Dataset: namespace ``modelred://<host>`` of the connection's origin, name the model's slug. Facet:
        assessment id, status, score, risk level, gate verdict and reasons, baseline, URL. Imports the
        provider only here.
        """
        from modelred_provider.operators.lineage import lineage_of

        summary = getattr(self, "_lineage_summary", None)
        if summary is None:  # e.g. wait_for_completion=False: only the launch is known
            summary = task_instance.xcom_pull(task_ids=self.task_id, key="assessment_summary")
        return lineage_of(
            str(self.model), self.hook.settings.origin, summary, getattr(self, "_launched_id", None)
        )

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        """Return the same on failure: a failed gate's verdict and reasons are in the facet."""
        return self.get_openlineage_facets_on_complete(task_instance)

    # --- run ----------------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        self._validate(at_parse=False)
        try:
            return self._execute(context)
        finally:
            self._close_hook()

    def _execute(self, context: Context) -> Any:
        assessment = self._reattach(context) or self._launch(context)
        self._launched_id = assessment.id
        self._push_ids(context, assessment)
        if not self.wait_for_completion:
            summary = self._publish(context, assessment, None)
            self._forget(context)  # launching was the whole job: a cleared rerun launches anew
            return summary
        return self._wait(
            context,
            assessment,
            deferrable=self.deferrable,
            poll_interval=self.poll_interval,
            deadline=self._deadline(context, self.timeout),
        )

    def _launch(self, context: Context) -> Assessment:
        name = "probe_pack_ids" if self.probe_pack_ids is not None else "test_types"
        probes = as_list(getattr(self, name), name)
        if probes is None:  # neither list given: _validate made sure a selection is
            from modelred_provider.operators.selection import select_probe_keys

            probes = select_probe_keys(
                self.hook.get_probes(),
                as_list(self.probe_categories, "probe_categories") or (),
                as_list(self.probe_severities, "probe_severities") or (),
            )
            self.log.info("Selected %d probes from the catalogue: %s", len(probes), probes)
        store: Any = context.get("task_state_store")

        def record_intent(intent: dict[str, Any]) -> None:
            # Before every POST (passed only with a store): a try that dies before learning the answer
            # leaves this for its retry.
            try:
                store.set(STATE_KEY, {"model": self.model, "launching": intent})
            except Exception as error:
                self.log.error(
                    "Could not record the launch in the task state store (%s); not sending it, so that no "
                    "assessment exists that a retry could not find. The retry reads the store again.",
                    error,
                )
                raise

        assessment = self.hook.create_assessment(
            self.model,
            priority=self.priority.strip().lower(),
            on_intent=record_intent if store is not None else None,
            **{name: probes},
        )
        self.log.info("Launched ModelRed assessment %s of model %s", assessment.id, self.model)
        if store is not None:
            self._remember(store, assessment)
        return assessment

    def _remember(self, store: Any, assessment: Assessment) -> None:
        """Replace the launch intent by the id (should this fail, the retry finds it by the intent)."""
        generation = assessment.api_generation.value
        store.set(
            STATE_KEY, {"assessment_id": assessment.id, "api_generation": generation, "model": self.model}
        )

    def _reattach(self, context: Context) -> Assessment | None:
        """On a retry, the assessment an earlier try launched if it is running or completed."""
        store = context.get("task_state_store")
        if store is None:
            self.log.warning(
                "No task state store in this Airflow (needs 3.3+): a retry will launch a new assessment."
            )
            return None
        saved = store.get(STATE_KEY)
        if not isinstance(saved, dict):
            return None
        stored_id = saved.get("assessment_id")
        if not stored_id and not isinstance(saved.get("launching"), dict):
            return None
        if saved.get("model") != self.model:
            self.log.info("An earlier try's record is of model %s; launching afresh", saved.get("model"))
            return None
        assessment = self._stored_assessment(saved) if stored_id else self._adopt_launch(store, saved)
        if assessment is None:
            return None
        from modelred_provider.api.models import AssessmentStatus

        status = assessment.status
        if not status.is_terminal:
            self.log.info(
                "Reattaching to assessment %s (%s) launched by an earlier try", assessment.id, status.value
            )
        elif status is AssessmentStatus.COMPLETED:
            self.log.info(
                "Assessment %s from an earlier try already completed; taking its result", assessment.id
            )
        elif status is AssessmentStatus.FAILED:
            # ModelRed's verdict on the assessment this task launched: the task fails with it (final,
            # not retried). Launching another here would pay twice for one task.
            self.log.warning(
                "Assessment %s from an earlier try ended FAILED; taking that result (not launching another)",
                assessment.id,
            )
        else:
            self.log.warning(
                "Assessment %s from an earlier try ended %s; launching afresh", assessment.id, status.value
            )
            return None
        return assessment

    def _stored_assessment(self, saved: dict[str, Any]) -> Assessment | None:
        """Get the assessment whose id an earlier try stored (None: it is gone)."""
        from modelred_provider.api.errors import ModelRedNotFoundError

        assessment_id = str(saved["assessment_id"])
        try:
            return self.hook.get_assessment(
                assessment_id, api_generation=ApiGeneration(saved.get("api_generation", "resources"))
            )
        except ModelRedNotFoundError:
            self.log.warning(
                "Assessment %s from an earlier try no longer exists; launching afresh", assessment_id
            )
            return None

    def _adopt_launch(self, store: Any, saved: dict[str, Any]) -> Assessment | None:
        """Find what the launch of an earlier try that stopped during it created, if anything.

        A failed lookup raises (this try fails; the next reads the record again): launching without
        knowing could leave two assessments.
        """
        from modelred_provider.api.errors import ModelRedConfigurationError

        intent = saved["launching"]
        token = str(intent.get("token", ""))[:12]
        self.log.info(
            "An earlier try stopped while launching (launch %s, POST sent %s); looking for the assessment "
            "it may have created before launching anything",
            token,
            intent.get("sent_at"),
        )
        try:
            found = self.hook.find_launched(intent)
        except ModelRedConfigurationError as error:
            self.log.warning("The stored launch record is unreadable (%s); launching afresh", error)
            return None
        if found is None:
            self.log.info("The earlier launch %s created no assessment; launching anew", token)
            return None
        self.log.info("Adopting assessment %s, created by the earlier launch %s", found.id, token)
        self._remember(store, found)
        return found

    def _forget(self, context: Context) -> None:
        """Drop the stored assessment id: the outcome is final, so a cleared-and-rerun task launches anew."""
        store = context.get("task_state_store")
        if store is not None:
            store.delete(STATE_KEY)

    def on_kill(self) -> None:
        """Cancel the running assessment, best effort; never raises."""
        assessment_id = getattr(self, "_launched_id", None)
        if not assessment_id:
            return
        try:
            self._cancel(assessment_id, "the task was killed")
        except Exception as error:  # never let on_kill raise
            self.log.warning("Could not cancel assessment %s: %s", assessment_id, error)
