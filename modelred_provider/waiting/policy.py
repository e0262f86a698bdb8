"""The polling policy: the one rule for every wait on an assessment, sync and async.

One loop drives it: ``waiting.loop.poll_until_done``, run by the trigger on the triggerer and by
``ModelRedHook.wait_until_done`` in process (``wait_for_assessment``, the operator's
``deferrable=False`` path). It feeds every poll's outcome to :meth:`PollPolicy.observe` (an
assessment was read) or :meth:`PollPolicy.failed` (the read failed), which log it and decide: stop
with an event, or pause for a given delay. A trigger in a shared group and the sensor's ``poke``
(Airflow's loop pauses between pokes) feed the same two.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelred_provider.api.errors import ModelRedError
from modelred_provider.waiting.outcome import TerminationReason, make_event, reason_for_status
from modelred_provider.waiting.parameters import DEFAULT_POLL_MAX_WAIT, check_positive

if TYPE_CHECKING:
    from modelred_provider.api.models import Assessment

__all__ = ["PollPolicy", "Step"]

#: Longest pause between two polls after transient failures (seconds).
_MAX_BACKOFF = 300.0


@dataclass
class Step:
    """Either ``event`` (stop) or ``delay`` seconds to sleep before the next poll.

    ``warning`` is for the caller's log (a status the contract does not list, said once per wait and
    raw value).
    """

    event: dict[str, Any] | None = None
    delay: float = 0.0
    warning: str | None = None


class PollPolicy:
    """Decides after each poll. ``deadline`` is absolute (epoch seconds) or ``None``.

    Transient errors (``error.retryable``: network, 5xx, 429) are retried with exponential backoff
    (honouring ``Retry-After``) while at most ``retry_budget`` happen in a row; one more ends the wait
    with a ``error`` event. A permanent error ends it at once.

    ``on_progress(assessment)`` is called by :meth:`observe` on the first read and whenever status or
    progress changes (the log line: when progress does); its exceptions are logged and ignored.
    """

    def __init__(
        self,
        assessment_id: str,
        *,
        poll_interval: float,
        deadline: float | None,
        retry_budget: int,
        on_progress: Callable[[Assessment], None] | None = None,
    ) -> None:
        # The callers check their parameters; this is the last line: NaN would make every comparison
        # false (no sleep, no deadline).
        self.poll_interval = check_positive(poll_interval, "poll_interval")
        if deadline is not None and not math.isfinite(deadline):
            raise ValueError(f"deadline={deadline!r} must be finite epoch seconds or None.")
        self.assessment_id = assessment_id
        self.deadline = deadline
        self.retry_budget = int(retry_budget)
        self.failures = 0
        self.last_status: str | None = None
        #: The cap on one pause (seconds): the callers set it from the connection's ``poll_max_wait``.
        self.max_wait = DEFAULT_POLL_MAX_WAIT
        self.on_progress = on_progress
        #: The last assessment read and the last error of a read (what a wait returns or raises).
        self.last: Assessment | None = None
        self.last_error: BaseException | None = None
        self._seen: tuple[Any, ...] | None = None
        self._status_text: str | None = None
        self._warned: set[str | None] = set()

    # --- the per-step helpers both loops (and the sensor's poke) call ---------------------------

    def observe(self, assessment: Assessment, log: Any) -> Step:
        """Take a read assessment: log its progress when it changed, decide, log the step's warning."""
        seen, self._seen = self._seen, (assessment.status, assessment.progress)
        if seen is None or seen[1] != assessment.progress:  # the log: when progress moves
            log.info("Assessment %s: %s, %d%%", assessment.id, assessment.status.value, assessment.progress)
        if self._seen != seen and self.on_progress is not None:  # the callback: status or progress moved
            try:
                self.on_progress(assessment)
            except Exception:
                log.exception("ModelRed: the on_progress callback failed; ignoring it")
        step = self.on_assessment(assessment)
        if step.warning:  # a status the contract does not list: once per wait and raw value
            log.warning("%s", step.warning)
        return step

    def failed(self, error: BaseException, log: Any) -> Step:
        """Take a failed read: count it, log it, decide (and log a capped Retry-After)."""
        step = self.on_error(error)
        log.warning("ModelRed: polling %s failed (%d in a row): %s", self.assessment_id, self.failures, error)
        if step.warning:
            log.warning("%s", step.warning)
        return step

    def _end(self, reason: TerminationReason, message: str) -> Step:
        return Step(event=make_event(reason, self.assessment_id, message, self.last_status))

    def _sleep_or_timeout(self, delay: float) -> Step:
        remaining = math.inf if self.deadline is None else self.deadline - time.time()
        if remaining <= 0:
            return self._end(
                TerminationReason.TIMEOUT,
                f"Assessment {self.assessment_id} was still {self._status_text or 'unknown'} "
                "when the task's deadline passed.",
            )
        return Step(delay=max(0.0, min(delay, remaining)))

    def on_assessment(self, assessment: Assessment) -> Step:
        self.failures = 0
        self.last = assessment
        self.last_status = self._status_text = assessment.status.value
        warning = None
        if not assessment.status_recognised:
            raw = assessment.status_raw
            # For the timeout message: what the server said, not only our guess.
            self._status_text = f"{raw!r} (read as {assessment.status.value})" if raw else "without a status"
            if raw not in self._warned:
                self._warned.add(raw)
                said = f"status {raw!r}, which" if raw else "no readable status, which"
                warning = (
                    f"Assessment {assessment.id} reports {said} is not a ModelRed status: "
                    f"treating it as {assessment.status.value} and waiting on until it ends or the "
                    "deadline passes."
                )
        reason = reason_for_status(assessment.status)
        if reason is None:
            step = self._sleep_or_timeout(self.poll_interval)
        else:
            error = f": {assessment.error_message}" if assessment.error_message else ""
            message = f"Assessment {assessment.id} ended {assessment.status.value}{error}"
            step = Step(event=make_event(reason, assessment.id, message, assessment.status))
        step.warning = warning
        return step

    def on_error(self, error: BaseException) -> Step:
        self.last_error = error
        retryable = isinstance(error, ModelRedError) and error.retryable
        if retryable:
            self.failures += 1
        if not retryable or self.failures > self.retry_budget:
            why = (
                f"{self.failures} transient errors in a row (retry_budget={self.retry_budget})"
                if retryable
                else "a permanent error"
            )
            return self._end(
                TerminationReason.ERROR,
                f"Stopped waiting for assessment {self.assessment_id} after {why}: {error}",
            )
        backoff = min(_MAX_BACKOFF, max(self.poll_interval, 0.1) * 2 ** (self.failures - 1))
        # The server's Retry-After (429, or 503 during maintenance) wins over our own backoff.
        delay = max(backoff * random.uniform(0.8, 1.2), float(getattr(error, "retry_after", None) or 0))
        step = self._sleep_or_timeout(min(delay, self.max_wait))
        if delay > self.max_wait:  # a Retry-After of a day must not park the wait for a day
            step.warning = (
                f"ModelRed asked to wait {delay:.0f} s before polling assessment {self.assessment_id} "
                f"again; waiting at most {self.max_wait:g} s (connection extra poll_max_wait)"
            )
        return step
