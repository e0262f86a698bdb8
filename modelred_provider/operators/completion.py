"""What the operator and the sensor share: the wait, its exceptions, gate, summary, XCom, asset event.

The wait runs deferred or in process; each way an assessment can end raises its own exception.

Both classes mix :class:`AssessmentCompletionMixin` in before ``BaseOperator``/``BaseSensorOperator``,
so the DAG processor imports this module for every DAG file: at module level it imports only the XCom
keys. The dataclasses, the poll policy, the gate, the summary, the exceptions, the
hook and the trigger are imported inside the methods that run when a task does.
"""

from __future__ import annotations

import time
from functools import cached_property
from typing import TYPE_CHECKING, Any

from modelred_provider.links.assessment import XCOM_ASSESSMENT_ID, XCOM_ASSESSMENT_URL

if TYPE_CHECKING:
    from airflow.sdk import Asset, Context

    from modelred_provider.api.models import Assessment
    from modelred_provider.api.vocabulary import ApiGeneration
    from modelred_provider.hooks.modelred import ModelRedHook
    from modelred_provider.operators.gate import GateVerdict
    from modelred_provider.waiting.outcome import TerminationReason

__all__ = ["AssessmentCompletionMixin", "reason_of"]

#: XCom key of the summary, pushed whatever the outcome (also the return value on success).
_XCOM_SUMMARY = "assessment_summary"
#: Completed assessments listed to find the regression baseline (newest first).
_BASELINE_LOOKBACK = 100


class AssessmentCompletionMixin:
    """Completion logic shared by :class:`ModelRedAssessmentOperator` and :class:`ModelRedAssessmentSensor`.

    Expects on ``self`` the attributes declared below and ``log``. ``cancel_on_kill``: this task owns the
    assessment, so a timeout or a kill cancels it (the trigger's parameter of the same name).
    """

    cancel_on_kill: bool = True
    modelred_conn_id: str
    min_score: Any
    max_risk_level: Any
    fail_on_severities: Any
    asset: Asset | None
    retry_budget: int
    #: False: a model that does not pass is not a task failure; the task returns the summary with the
    #: verdict (``summary["gate"]["passed"]``) for a branch to route on. The asset event still needs a pass.
    fail_on_gate: bool = True
    #: The regression gate (the operator's parameters; the sensor has none of them).
    max_score_drop: Any = None
    fail_on_new_critical: bool = False
    require_baseline: bool = False
    baseline_assessment_id: str | None = None
    if TYPE_CHECKING:
        from airflow.sdk.types import Logger

        log: Logger

        def defer(self, *, trigger: Any, method_name: str, **kwargs: Any) -> Any: ...

    @cached_property
    def hook(self) -> ModelRedHook:
        from modelred_provider.hooks.modelred import ModelRedHook

        return ModelRedHook(modelred_conn_id=self.modelred_conn_id)

    # --- deadline and waiting -------------------------------------------------------------------

    def _deadline(
        self, context: Context, timeout: float | None, *, from_try_start: bool = False
    ) -> float | None:
        """Return the deadline in epoch seconds: ``timeout`` from now, capped by ``execution_timeout``.

        The sensor counts from the start of the try.
        """
        ti = context.get("ti")
        start = getattr(ti, "start_date", None)
        origin = start.timestamp() if (from_try_start and start is not None) else time.time()
        candidates = [] if timeout is None else [origin + timeout]
        execution_timeout = getattr(self, "execution_timeout", None)
        if execution_timeout is not None and start is not None:
            candidates.append(start.timestamp() + execution_timeout.total_seconds())
        return min(candidates) if candidates else None

    def _wait(
        self,
        context: Context,
        assessment: Assessment,
        *,
        deferrable: bool,
        poll_interval: float,
        deadline: float | None,
    ) -> Any:
        """Finish now if terminal; else defer to the trigger or wait here. Return the summary.

        Waiting here is ``hook.wait_until_done``: the one wait loop the trigger runs too, on the same policy.
        """
        from modelred_provider.waiting.policy import PollPolicy

        policy = PollPolicy(
            assessment.id, poll_interval=poll_interval, deadline=deadline, retry_budget=self.retry_budget
        )
        # Deferred, the trigger's own policy logs the progress and warnings.
        step = policy.on_assessment(assessment) if deferrable else policy.observe(assessment, self.log)
        if step.event is not None:
            return self._finish(context, step.event)
        if deferrable:
            from modelred_provider.triggers.assessment import ModelRedAssessmentTrigger

            self.log.info("Deferring until assessment %s ends (%d%% now)", assessment.id, assessment.progress)
            self.defer(
                trigger=ModelRedAssessmentTrigger(
                    assessment_id=assessment.id,
                    modelred_conn_id=self.modelred_conn_id,
                    api_generation=assessment.api_generation.value,
                    poll_interval=poll_interval,
                    deadline=deadline,
                    retry_budget=self.retry_budget,
                    cancel_on_kill=self.cancel_on_kill,
                ),
                method_name="execute_complete",
            )
        event = self.hook.wait_until_done(policy, assessment.api_generation, delay=step.delay)
        return self._finish(context, event)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume after the trigger fired: the same completion code as the in-process wait."""
        try:
            return self._finish(context, event)
        finally:
            self._close_hook()

    def _close_hook(self) -> None:
        """Release the sync HTTP session if this task opened one (a later call would reopen it)."""
        hook = self.__dict__.get("hook")
        if hook is not None:
            try:
                hook.close()
            except Exception as error:
                self.log.debug("Closing the ModelRed session failed: %s", error)

    # --- completion ---------------------------------------------------------------------------

    def _fetch(self, assessment_id: str, api_generation: ApiGeneration) -> Assessment | None:
        try:
            return self.hook.get_assessment(assessment_id, api_generation=api_generation)
        except Exception as error:
            self.log.warning("Could not read assessment %s for its summary: %s", assessment_id, error)
            return None

    def _carried(self, event: dict[str, Any]) -> Assessment | None:
        """Read the final assessment the trigger's event carries: no GET at resume.

        ``assessment`` is the server's object, when small enough. None: read it with :meth:`_fetch`.
        """
        carried = event.get("assessment")
        if not isinstance(carried, dict):
            return None
        try:
            assessment = self.hook.assessment_from_object(carried, self._api_generation())
            return assessment if assessment.id == str(event.get("assessment_id") or "") else None
        except Exception as error:
            self.log.warning("The event's assessment could not be read (%s); reading it again", error)
            return None

    def _model_label(self, assessment: Assessment) -> str | None:
        """Name the model as the summary, the log, the asset event and the alerts do: its slug.

        The assessment carries the model's database id (``mdl_...``); it is resolved to the slug once
        (a GET of the model, cached on the task), the same name the operator was given.
        """
        return self._resolve_slug(assessment.model_id)

    def _resolve_slug(self, ref: str | None) -> str | None:
        """``ref`` (a model's id or slug) as its slug; ``ref`` itself when the model cannot be read."""
        if not ref:
            return ref
        cache: dict[str, str] = self.__dict__.setdefault("_model_slugs", {})
        if ref not in cache:
            try:
                cache[ref] = self.hook.get_model(ref).model_id or ref
            except Exception as error:
                self.log.warning("Could not read model %s for its slug: %s", ref, error)
                cache[ref] = ref
        return cache[ref]

    def _alert_model(self, assessment: Assessment | None) -> str | None:
        """Name the model for an alert; the operator knows it without the assessment."""
        return self._model_label(assessment) if assessment is not None else None

    def _timeout_limit(self) -> str:
        """Name the limit that passed, as an alert says it: ``4 s (timeout)``."""
        timeout = getattr(self, "timeout", None)
        limits = [] if timeout is None else [(float(timeout), "timeout")]
        execution_timeout = getattr(self, "execution_timeout", None)
        if execution_timeout is not None:
            limits.append((execution_timeout.total_seconds(), "execution_timeout"))
        if not limits:
            return "the task's deadline"
        seconds, name = min(limits)
        return f"{seconds:g} s ({name})"

    def _api_generation(self) -> ApiGeneration:
        """Return the assessment's API generation (the operator: from its parameters; the sensor: its own)."""
        raise NotImplementedError

    def _finish(self, context: Context, event: dict[str, Any]) -> Any:
        from modelred_provider import exceptions
        from modelred_provider.operators.gate import QualityGate
        from modelred_provider.waiting.outcome import TerminationReason

        reason = reason_of(event)
        assessment_id = str(event.get("assessment_id") or "")
        message = str(event.get("message") or "")
        summary = None
        assessment = None
        if reason in (TerminationReason.COMPLETED, TerminationReason.FAILED, TerminationReason.CANCELLED):
            assessment = self._carried(event) or self._fetch(assessment_id, self._api_generation())
        if reason is TerminationReason.COMPLETED:
            if assessment is None:
                raise exceptions.ModelRedAssessmentError(
                    f"Assessment {assessment_id} completed but its report could not be read; "
                    "the task can be retried to read it again.",
                    assessment_id=assessment_id,
                )
            gate = QualityGate.from_params(self.min_score, self.max_risk_level, self.fail_on_severities)
            verdict = gate.evaluate(assessment.report)
            verdict, baseline = self._regression(assessment, verdict)
            summary = self._publish(context, assessment, verdict, baseline=baseline)
            if not verdict.passed:
                self._forget(context)
                text = (
                    f"Model {summary['model']} did not pass the ModelRed quality gate: "
                    + "; ".join(verdict.reasons)
                    + f". Assessment {assessment_id}: {summary['url']}"
                )
                if not self.fail_on_gate:
                    self.log.warning("%s (fail_on_gate=False: the task succeeds with this verdict)", text)
                    return summary
                raise exceptions.ModelRedQualityGateError(
                    text, reasons=verdict.reasons, assessment_id=assessment_id, summary=summary
                )
            self._emit_asset_event(context, summary)
            self._forget(context)
            return summary
        if assessment is not None:
            summary = self._publish(context, assessment, None)
        # Alerts (on_failure_callback, Slack, e-mail) get the exception's text: name the model and
        # link the assessment so the alert is actionable on its own.
        model = self._alert_model(assessment)
        of_model = f" of model {model}" if model else ""
        where = f"Assessment {assessment_id}: {summary['url'] if summary else self._url_or_id(assessment_id)}"
        if reason is TerminationReason.TIMEOUT:
            self._on_timeout(assessment_id, message)
            raise exceptions.ModelRedAssessmentTimeoutError(
                f"ModelRed assessment{of_model} did not finish within {self._timeout_limit()}: "
                f"{message or 'the deadline passed'} {where}",
                assessment_id=assessment_id,
                summary=summary,
            )
        if reason is TerminationReason.FAILED:
            server_error = assessment.error_message if assessment else None
            self._forget(context)  # final, not retried (see exceptions.py): a cleared rerun launches anew
            raise exceptions.ModelRedAssessmentFailedError(
                f"ModelRed assessment{of_model} failed: {server_error or message}. {where}",
                server_error=server_error,
                assessment_id=assessment_id,
                summary=summary,
            )
        raise exceptions.ModelRedAssessmentError(  # cancelled, or the wait was abandoned: retried
            message or f"Assessment {assessment_id}: {reason.value}",
            assessment_id=assessment_id,
            summary=summary,
            reason=reason.value,
        )

    def _regression(
        self, assessment: Assessment, verdict: GateVerdict
    ) -> tuple[GateVerdict, dict[str, Any] | None]:
        """Combine ``verdict`` with the regression gate's; return it and the summary's baseline entry.

        The entry is ``None`` without regression criteria. A baseline that cannot be read fails the gate.
        """
        from modelred_provider.operators.gate import (
            BASELINE_EXPLICIT,
            BASELINE_LATEST,
            RegressionGate,
            combine,
        )
        from modelred_provider.operators.validation import check_identifier

        regression = RegressionGate.from_params(
            self.max_score_drop, self.fail_on_new_critical, self.require_baseline
        )
        if regression.is_empty:
            return verdict, None
        explicit = self.baseline_assessment_id
        chosen = BASELINE_EXPLICIT if explicit else BASELINE_LATEST
        unusable = bool(explicit)  # an explicit baseline that cannot be read is not "no baseline"
        baseline = None
        try:
            if explicit:
                check_identifier(explicit, "baseline_assessment_id")
                missing = f"baseline_assessment_id={explicit!r} was not found"
                baseline = self.hook.get_assessment(explicit, api_generation=assessment.api_generation)
            else:
                missing = (
                    f"no earlier COMPLETED assessment of model {self._model_label(assessment)} "
                    "with the same probe set"
                )
                baseline = self._latest_baseline(assessment)
        except Exception as error:
            from modelred_provider.api.errors import ModelRedNotFoundError

            if not (explicit and isinstance(error, ModelRedNotFoundError)):
                # Fail closed: the gate cannot decide, so the model does not pass.
                missing = f"the baseline could not be read ({error}), so the regression gate cannot pass"
                unusable = True
        part, info = regression.evaluate(
            assessment.report, baseline, missing=missing, chosen=chosen, unusable=unusable
        )
        if info["note"]:
            self.log.info("Regression gate: %s", info["note"])
        return combine(verdict, part), info

    def _latest_baseline(self, assessment: Assessment) -> Assessment | None:
        """Find the newest earlier COMPLETED assessment of the same model and probe set in ModelRed's list."""
        from modelred_provider.api.models import AssessmentStatus
        from modelred_provider.operators.gate import pick_baseline

        listed = self.hook.list_assessments(
            status=AssessmentStatus.COMPLETED,
            limit=_BASELINE_LOOKBACK,
            api_generation=assessment.api_generation,
        )
        found = pick_baseline(assessment, listed)
        # A list item may carry no report (a large list): read the chosen one in full.
        if found is not None and found.report is None:
            found = self.hook.get_assessment(found.id, api_generation=found.api_generation)
        return found

    def _publish(
        self,
        context: Context,
        assessment: Assessment,
        verdict: GateVerdict | None,
        *,
        baseline: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        from modelred_provider.operators.summary import build_summary, render_report

        ti = context.get("ti")
        # Which task instance ran or watched the assessment (the summary and the asset event say it).
        airflow_task = {
            name: getattr(ti, name, None)
            for name in ("dag_id", "run_id", "task_id", "map_index", "try_number")
        }
        summary = build_summary(
            assessment,
            url=self._url(assessment),
            model=self._model_label(assessment),
            gate=verdict,
            baseline=baseline,
            airflow_task=airflow_task,
        )
        self.log.info("%s", render_report(assessment, summary))
        context["ti"].xcom_push(key=_XCOM_SUMMARY, value=summary)
        return summary

    def _url(self, assessment: Assessment) -> str:
        return assessment.url or self.hook.assessment_url(assessment.id)

    def _push_ids(self, context: Context, assessment: Assessment) -> None:
        ti = context["ti"]
        ti.xcom_push(key=XCOM_ASSESSMENT_ID, value=assessment.id)
        ti.xcom_push(key=XCOM_ASSESSMENT_URL, value=self._url(assessment))

    def _emit_asset_event(self, context: Context, summary: dict[str, Any]) -> None:
        """Add the asset's event, only for a pass.

        With ``fail_on_gate=False`` the task's outlet is an alias (a task that succeeds emits its outlets'
        events), so the asset's event is added only here.
        """
        if self.asset is None:
            return
        keys = ("assessment_id", "score", "risk_level", "passed", "model", "airflow_task")
        extra = {key: summary["gate"]["passed"] if key == "passed" else summary[key] for key in keys}
        alias = getattr(self, "_asset_alias", None)
        if alias is not None:
            context["outlet_events"][alias].add(self.asset, extra=extra)
        else:
            context["outlet_events"][self.asset].extra = extra

    def _forget(self, context: Context) -> None:
        """Drop the stored assessment id once the outcome is final (a hook: only the operator stores one)."""

    def _on_timeout(self, assessment_id: str, message: str) -> None:
        """Cancel the assessment the operator launched; the sensor leaves it alone."""
        if self.cancel_on_kill:
            self._cancel(assessment_id, "it timed out")

    def _cancel(self, assessment_id: str, why: str) -> None:
        """Best-effort cancel; never raises."""
        from modelred_provider.api.errors import ModelRedNotAllowedForApiKeyError

        try:
            self.hook.cancel_assessment(assessment_id, api_generation=self._api_generation())
            self.log.info("Cancelled ModelRed assessment %s because %s", assessment_id, why)
        except ModelRedNotAllowedForApiKeyError as error:
            self.log.warning(
                "Wanted to cancel assessment %s because %s, but ModelRed does not let an API key cancel it: "
                "cancel it in the ModelRed UI (%s). (%s)",
                assessment_id,
                why,
                self._url_or_id(assessment_id),
                error,
            )
        except Exception as error:
            self.log.warning("Could not cancel assessment %s (%s): %s", assessment_id, why, error)

    def _url_or_id(self, assessment_id: str) -> str:
        try:
            return self.hook.assessment_url(assessment_id)
        except Exception:
            return assessment_id


def reason_of(event: Any) -> TerminationReason:
    """Return the reason a wait's event carries; a malformed one (never ours) fails the task clearly."""
    from modelred_provider.exceptions import ModelRedAssessmentError
    from modelred_provider.waiting.outcome import parse_reason

    try:
        return parse_reason(event)
    except ValueError as error:
        raise ModelRedAssessmentError(f"Malformed ModelRed trigger event: {error}") from None
