"""The retry rules, shared by the sync (requests) and async (aiohttp) transports.

What is retried
    Reads: 429, 502, 503, 504, connection errors, timeouts and unreadable answers (a truncated 2xx:
    a GET is safe to send again; never 500, never a TLS failure, never an answer over the size cap).
    Creating an assessment (a POST that is not idempotent) is only *resent* when the server cannot
    have processed it: the connection was never opened, 429, or 503 with ``Retry-After``. Other
    transient failures are *ambiguous* (timeout after sending, 502, 504, an unreadable 2xx): the
    hook looks for the assessment the attempt may have created before deciding to send again.
How long to wait
    ``Retry-After`` (seconds or an HTTP date) when the server sent it, capped at ``max_wait``;
    otherwise exponential backoff ``backoff * 2**(attempt-1)`` plus jitter ``U(0, backoff/2)``, capped.
How many times
    at most ``max_retries`` extra attempts, and never a wait that would end past ``max_total``
    seconds after the first attempt started.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modelred_provider.api.errors import (
    ModelRedAPIError,
    ModelRedError,
    ModelRedResponseError,
    ModelRedTransportError,
)

__all__ = [
    "RetryPolicy",
    "deadline_stop",
    "describe",
    "is_ambiguous",
    "is_retryable_read",
    "is_safe_to_resend",
    "tenacity_kwargs",
    "time_left",
]

#: Statuses worth another try of a read.
_RETRY_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries: attempts, backoff base, the cap of one wait, the total time budget (seconds)."""

    max_retries: int = 3
    backoff: float = 0.5
    max_wait: float = 30.0
    max_total: float = 120.0

    def backoff_wait(self, attempt: int) -> float:
        """Exponential backoff with jitter after failed attempt number ``attempt`` (1-based)."""
        base = self.backoff * (2 ** max(0, attempt - 1))
        return min(self.max_wait, base + random.uniform(0, self.backoff / 2))

    def wait_after(self, attempt: int, error: BaseException | None) -> float:
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return min(float(retry_after), self.max_wait)
        return self.backoff_wait(attempt)


def time_left(timeout: float, deadline: float | None, operation: str) -> float:
    """Return a request's wall-clock limit: ``timeout``, clipped to what is left before ``deadline``.

    When the deadline has already passed nothing is sent: a :class:`ModelRedTransportError` of kind
    ``connect`` (safe to resend; a poller's policy then ends the wait as timed out).
    """
    if deadline is None:
        return timeout
    remaining = deadline - time.time()
    if remaining <= 0:
        raise ModelRedTransportError(
            "not sent: the deadline of the wait has passed", operation=operation, kind="connect"
        )
    return min(timeout, remaining)


def deadline_stop(deadline: float | None) -> Any:
    """Build a tenacity stop condition: no retry whose wait would end past ``deadline`` (epoch seconds)."""
    import tenacity

    if deadline is None:
        return tenacity.stop_never

    def stop(state: tenacity.RetryCallState) -> bool:
        return time.time() + (state.upcoming_sleep or 0.0) >= deadline

    return stop


def is_retryable_read(error: BaseException) -> bool:
    """Tell whether a read may be tried again right away.

    429/502/503/504, connection errors, timeouts, and an unreadable answer (a truncated body, a proxy's
    page with 200; not one over the size cap).
    """
    if isinstance(error, ModelRedTransportError | ModelRedResponseError):
        return error.retryable
    return isinstance(error, ModelRedAPIError) and error.status in _RETRY_STATUSES


def is_safe_to_resend(error: BaseException) -> bool:
    """Tell whether the server cannot have processed the request: no connection, 429, 503 with Retry-After."""
    if isinstance(error, ModelRedTransportError):
        return not error.sent
    if isinstance(error, ModelRedAPIError):
        return error.status == 429 or (error.status == 503 and error.retry_after is not None)
    return False


def is_ambiguous(error: BaseException) -> bool:
    """Tell whether the server may have processed the request although we got no usable answer."""
    if is_safe_to_resend(error):
        return False
    if isinstance(error, ModelRedTransportError):
        return error.kind != "tls"
    if isinstance(error, ModelRedResponseError):  # e.g. a truncated 2xx: it was processed
        return True
    return isinstance(error, ModelRedAPIError) and error.status in (502, 503, 504)


def describe(error: BaseException) -> str:
    """Short reason for a retry log line (never carries a secret: our errors never do)."""
    if isinstance(error, ModelRedError):
        if error.status is not None:
            return f"HTTP {error.status} ({type(error).__name__})"
        if isinstance(error, ModelRedTransportError):
            return f"{type(error).__name__} ({error.kind}): {error.message}"
        return f"{type(error).__name__}: {error.message}"
    return type(error).__name__


def tenacity_kwargs(
    policy: RetryPolicy, should_retry: Callable[[BaseException], bool], log: Any, operation: str
) -> dict[str, Any]:
    """Keyword arguments for ``tenacity.Retrying`` / ``AsyncRetrying``: same rules for sync and async."""
    import tenacity

    def wait(state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None and float(retry_after) > policy.max_wait:
            log.warning(
                "ModelRed %s: the server asked to wait %.0f s (Retry-After); waiting at most %g s",
                operation,
                float(retry_after),
                policy.max_wait,
            )
        return policy.wait_after(state.attempt_number, error)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning(
            "ModelRed %s: attempt %d of %d failed with %s; retrying in %.2f s",
            operation,
            state.attempt_number,
            policy.max_retries + 1,
            describe(error) if error else "no answer",
            state.upcoming_sleep,
        )

    return {
        "stop": tenacity.stop_after_attempt(policy.max_retries + 1)
        | tenacity.stop_before_delay(policy.max_total),
        "wait": wait,
        "retry": tenacity.retry_if_exception(should_retry),
        "before_sleep": before_sleep,
        "reraise": True,
    }
