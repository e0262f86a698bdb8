"""ModelRedAssessmentSensor: wait for an existing assessment, then apply the same gate as the operator.

Modes ``poke``, ``reschedule`` and ``deferrable`` (the operator's trigger, with ``cancel_on_kill``
off: the sensor watches an assessment, it does not own it). ``timeout`` and ``soft_fail`` behave
the same in every mode: the timeout raises ``AirflowSensorTimeout`` (a skip with ``soft_fail``);
a failed, cancelled or gate-failing assessment raises its own error (a skip with ``soft_fail``).

Importing this module imports only what defining the class needs (see the operator's module); the
dataclasses, the hook, the poll policy, the exceptions and the outcome table load when the task runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, conf
from airflow.sdk.bases.sensor import PokeReturnValue

from modelred_provider.api.vocabulary import ApiGeneration
from modelred_provider.links.assessment import ModelRedAssessmentLink
from modelred_provider.operators.completion import AssessmentCompletionMixin
from modelred_provider.operators.validation import (
    check_api_generation,
    check_gate_params,
    check_identifier,
    gate_outlets,
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

    from modelred_provider.waiting.policy import PollPolicy

__all__ = ["ModelRedAssessmentSensor"]


class ModelRedAssessmentSensor(AssessmentCompletionMixin, BaseSensorOperator):
    """Wait until assessment ``assessment_id`` ends; return the same summary as the operator.

    :param assessment_id: the assessment to watch (templated, e.g.
        ``"{{ ti.xcom_pull(task_ids='launch', key='assessment_id') }}"``).
    :param api_generation: ``"resources"`` (default) or ``"v2"``.
    :param deferrable: wait on the triggerer (the deadline is the start of the try plus ``timeout``).
    :param min_score, max_risk_level, fail_on_severities: the quality gate, as on the operator.
    :param retry_budget: transient polling failures tolerated in a row (per process in poke mode,
        per wait in deferrable mode; each reschedule starts afresh).
    :param asset: an Asset to emit an event for when the model passes.
    :param fail_on_gate: True (default): a model that does not pass fails the task
        (``ModelRedQualityGateError``). False: the sensor succeeds and returns the summary with the
        verdict in ``summary["gate"]["passed"]`` and ``["reasons"]`` for a branch to route on, as on the
        operator; the ``asset`` event is still emitted only for a pass (the outlet is then an
        ``AssetAlias``, ``modelred-passed:<asset name>``). A FAILED assessment or a timeout still fails.

    ``mode="reschedule"`` with ``deferrable=True`` is refused at DAG parse (both free the worker slot;
    pick one). The model is named by its slug (``modelId``) in the summary, the log, the asset event
    and alerts, as the operator names it (the assessment carries the model's id; it is resolved once).

    ``poke_interval``, ``timeout``, ``soft_fail`` and ``mode`` are the usual sensor parameters, except
    that ``timeout`` defaults to 6 hours (``waiting.parameters.DEFAULT_ASSESSMENT_TIMEOUT``, the operator's
    default: several times a full red-team run) instead of Airflow's 7 days, and that both must be
    positive, finite numbers of seconds (or ``timedelta``): NaN, infinity and ``True`` are refused at
    DAG parse.
    """

    template_fields: Sequence[str] = (
        "assessment_id",
        "modelred_conn_id",
        "api_generation",
        "min_score",
        "max_risk_level",
        "fail_on_severities",
    )
    template_fields_renderers = {"fail_on_severities": "json"}
    operator_extra_links = (ModelRedAssessmentLink(),)
    ui_color = "#fde2e4"
    cancel_on_kill = False

    def __init__(
        self,
        *,
        assessment_id: str,
        modelred_conn_id: str = "modelred_default",
        api_generation: str = ApiGeneration.RESOURCES.value,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        min_score: float | str | None = None,
        max_risk_level: str | None = None,
        fail_on_severities: list[str] | str | None = None,
        retry_budget: int = DEFAULT_RETRY_BUDGET,
        asset: Asset | None = None,
        fail_on_gate: bool = True,
        poke_interval: float | timedelta = 60,
        timeout: float | timedelta | None = DEFAULT_ASSESSMENT_TIMEOUT,
        **kwargs: Any,
    ) -> None:
        outlets, alias = gate_outlets(asset, fail_on_gate, kwargs.get("outlets"))
        if asset is not None:
            kwargs["outlets"] = outlets
        # Named here (so default_args still apply) and checked before Airflow's own coercion, whose
        # messages do not name the bad value and which takes True for 1 second.
        if timeout is None:
            timeout = DEFAULT_ASSESSMENT_TIMEOUT
        check_positive(timeout, "timeout")
        check_positive(poke_interval, "poke_interval")
        super().__init__(poke_interval=poke_interval, timeout=timeout, **kwargs)
        if deferrable and self.mode == "reschedule":
            # Two ways of freeing the worker slot: deferring would win, silently. Say so at parse.
            raise ValueError(
                "mode='reschedule' and deferrable=True both free the worker slot while waiting; choose one "
                "(deferrable=True waits on the triggerer, mode='reschedule' re-runs the task between pokes)."
            )
        check_identifier(assessment_id, "assessment_id")
        self.api_generation = check_api_generation(api_generation)
        if self.poke_interval <= 0:
            raise ValueError(f"poke_interval={self.poke_interval!r} must be a positive number of seconds.")
        check_gate_params(min_score, max_risk_level, fail_on_severities)
        self.assessment_id = assessment_id
        self.modelred_conn_id = modelred_conn_id
        self.deferrable = deferrable
        self.min_score = min_score
        self.max_risk_level = max_risk_level
        self.fail_on_severities = fail_on_severities
        self.retry_budget = check_retry_budget(retry_budget)
        self.asset = asset
        self.fail_on_gate = fail_on_gate
        self._asset_alias = alias
        self._policy: PollPolicy | None = None

    def _api_generation(self) -> ApiGeneration:
        return ApiGeneration(check_api_generation(self.api_generation, rendered=True))

    def execute(self, context: Context) -> Any:
        check_gate_params(self.min_score, self.max_risk_level, self.fail_on_severities)
        try:
            return self._execute(context)
        finally:
            self._close_hook()

    def _execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        deadline = self._deadline(context, float(self.timeout), from_try_start=True)
        try:
            assessment = self.hook.get_assessment(self.assessment_id, api_generation=self._api_generation())
        except Exception as error:
            # As in poke mode: a permanent error (404, 401, ...) ends the wait through the shared
            # completion, so it raises the same exception and honours soft_fail the same way.
            step = self._poll_policy(deadline).on_error(error)
            if step.event is None:
                raise  # transient, and the hook already retried it within this call
            return self._finish(context, step.event)
        self._push_ids(context, assessment)
        self._watched_id = assessment.id  # the extra link may read the URL (links.py)
        return self._wait(
            context, assessment, deferrable=True, poll_interval=float(self.poke_interval), deadline=deadline
        )

    def poke(self, context: Context) -> bool | PokeReturnValue:
        if self._policy is None:
            self._policy = self._poll_policy(None)  # the deadline is Airflow's sensor timeout
        try:
            assessment = self.hook.get_assessment(self.assessment_id, api_generation=self._api_generation())
        except Exception as error:
            step = self._policy.failed(error, self.log)
        else:
            if getattr(self, "_watched_id", None) is None:  # the first poke that read it, not the first poke
                self._push_ids(context, assessment)
                self._watched_id = assessment.id  # the extra link may read the URL (links.py)
            step = self._policy.observe(assessment, self.log)
        if step.event is None:
            return False
        return PokeReturnValue(True, self._finish(context, step.event))

    def _poll_policy(self, deadline: float | None) -> PollPolicy:
        from modelred_provider.waiting.policy import PollPolicy

        return PollPolicy(
            self.assessment_id,
            poll_interval=self.poke_interval,
            deadline=deadline,
            retry_budget=self.retry_budget,
        )

    def _finish(self, context: Context, event: dict[str, Any]) -> Any:
        """Run the shared completion, with the sensor's timeout/soft_fail semantics on top."""
        from airflow.sdk.exceptions import AirflowSkipException

        from modelred_provider.exceptions import ModelRedAssessmentError, ModelRedAssessmentSensorTimeout
        from modelred_provider.operators.completion import reason_of
        from modelred_provider.waiting.outcome import TerminationReason

        try:
            if reason_of(event) is TerminationReason.TIMEOUT:
                # An actionable alert: which model, the limit that passed, where to look.
                assessment_id = str(event.get("assessment_id") or self.assessment_id)
                assessment = self._fetch(assessment_id, self._api_generation())
                model = self._alert_model(assessment)
                raise ModelRedAssessmentSensorTimeout(
                    f"Sensor has timed out: ModelRed assessment{f' of model {model}' if model else ''} "
                    f"did not end within {self._timeout_limit()}: {event.get('message') or ''} "
                    f"Assessment {assessment_id}: "
                    f"{self._url(assessment) if assessment else self._url_or_id(assessment_id)}",
                    assessment_id=assessment_id,
                )
            return super()._finish(context, event)
        except ModelRedAssessmentError as error:
            if self.soft_fail:
                raise AirflowSkipException(f"Skipping due to soft_fail: {error}") from error
            raise
