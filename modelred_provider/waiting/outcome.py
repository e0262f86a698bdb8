"""One source of truth for how an assessment's status ends a wait, shared by sync and async code.

* :func:`reason_for_status` maps a terminal :class:`AssessmentStatus` to a :class:`TerminationReason`.
* :func:`make_event` builds the event every wait ends with (the trigger's, and the in-process wait's);
  :func:`parse_reason` reads its reason back. Which exception a task raises for a reason is the
  operator side's business (``operators/completion.py``); nothing here imports Airflow.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from modelred_provider.api.models import AssessmentStatus

__all__ = ["TerminationReason", "make_event", "parse_reason", "reason_for_status"]


class TerminationReason(str, Enum):
    """Why a wait ended; carried as ``reason`` in the trigger event."""

    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"  # the deadline passed while the assessment was still queued or running
    ERROR = "error"  # retry budget exhausted, or a permanent API error (401, 404, ...)


_STATUS_REASONS = {
    AssessmentStatus.COMPLETED: TerminationReason.COMPLETED,
    AssessmentStatus.FAILED: TerminationReason.FAILED,
    AssessmentStatus.CANCELLED: TerminationReason.CANCELLED,
}


def reason_for_status(status: AssessmentStatus) -> TerminationReason | None:
    """Return the reason a terminal status ends the wait with; ``None`` while the assessment goes on."""
    return _STATUS_REASONS.get(status)


def make_event(
    reason: TerminationReason,
    assessment_id: str,
    message: str,
    assessment_status: AssessmentStatus | str | None = None,
) -> dict[str, Any]:
    """Build the trigger event payload (also what the sync path hands to the same completion code)."""
    status = assessment_status.value if isinstance(assessment_status, AssessmentStatus) else assessment_status
    return {
        "status": "success" if reason is TerminationReason.COMPLETED else "error",
        "reason": reason.value,
        "assessment_id": assessment_id,
        "message": message,
        "assessment_status": status,
    }


def parse_reason(event: Any) -> TerminationReason:
    """Read the reason from an event payload; a malformed event is a ``ValueError`` saying what is wrong."""
    if not isinstance(event, dict) or "reason" not in event:
        raise ValueError(f"Malformed ModelRed trigger event {event!r}: expected a dict with a 'reason' key.")
    try:
        return TerminationReason(event["reason"])
    except ValueError:
        raise ValueError(
            f"Unknown termination reason {event['reason']!r} in ModelRed trigger event; "
            f"expected one of {[r.value for r in TerminationReason]}."
        ) from None
