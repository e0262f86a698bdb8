"""How an assessment ended badly, as Airflow exceptions.

The operator and the sensor pick the class from the wait's ``reason`` (``operators/completion.py``),
never from message text; ``reason`` on every instance says which it was (``"cancelled"``, ``"error"``:
the retry budget ran out or a permanent API error, ``"failed"``, ``"timeout"``, ``"gate"``).

Retries: a cancelled or timed-out assessment, or a wait abandoned after transient errors, raises a
retryable exception (a retry reattaches to a still-running assessment, or launches a fresh one after
a cancellation). Two outcomes are final, as ``AirflowFailException`` s that Airflow does not retry:
a quality gate that is not met (:class:`ModelRedQualityGateError`: the same finished assessment would
fail it again) and an assessment ModelRed reports FAILED (:class:`ModelRedAssessmentFailedError`:
ModelRed has given its verdict on that assessment, and a retry would launch, and pay for, another
one). Clear the task to launch anew.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSensorTimeout

__all__ = [
    "ModelRedAssessmentError",
    "ModelRedAssessmentFailedError",
    "ModelRedAssessmentSensorTimeout",
    "ModelRedAssessmentTimeoutError",
    "ModelRedQualityGateError",
]


class ModelRedAssessmentError(AirflowException):
    """An assessment did not end in a usable, passing result (retried by Airflow).

    Raised as such when the assessment was cancelled (``reason == "cancelled"``) or the wait was abandoned
    (``reason == "error"``: the retry budget for transient errors ran out, or a permanent API error);
    the subclasses below are the outcomes a pipeline tells apart.
    """

    #: Why: ``"cancelled"``, ``"error"``, ``"failed"``, ``"timeout"`` or ``"gate"``.
    reason: str = "error"

    def __init__(
        self,
        message: str,
        *,
        assessment_id: str | None = None,
        summary: Any = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason
        self.assessment_id = assessment_id
        #: The JSON summary of the assessment when one could be built (also pushed to XCom).
        self.summary = summary


class ModelRedAssessmentFailedError(ModelRedAssessmentError, AirflowFailException):
    """ModelRed reports the assessment as FAILED; ``server_error`` holds its error message.

    Final (not retried): a retry would launch and pay for another assessment; clear the task to do so.
    """

    reason = "failed"

    def __init__(self, message: str, *, server_error: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.server_error = server_error


class ModelRedAssessmentTimeoutError(ModelRedAssessmentError):
    """The assessment did not finish before the task's deadline (``timeout`` / ``execution_timeout``)."""

    reason = "timeout"


class ModelRedQualityGateError(ModelRedAssessmentError, AirflowFailException):
    """The assessment finished but the model does not meet the quality gate; ``reasons`` lists every one."""

    reason = "gate"

    def __init__(self, message: str, *, reasons: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.reasons = list(reasons or [])


class ModelRedAssessmentSensorTimeout(ModelRedAssessmentTimeoutError, AirflowSensorTimeout):
    """The sensor's timeout passed.

    Raised in deferrable mode exactly where poke mode raises ``AirflowSensorTimeout``, so ``timeout``
    and ``soft_fail`` behave the same in every mode.
    """
