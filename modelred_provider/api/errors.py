"""The error hierarchy of the ModelRed API and the status/payload -> error mapping.

Every error names the operation, the HTTP status, the server's message and code. None of them
ever carries the API key: messages are built from the server's answer and our own words only.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

from modelred_provider.api.redact import scrub, scrub_any

__all__ = [
    "ModelRedAPIError",
    "ModelRedAuthenticationError",
    "ModelRedConfigurationError",
    "ModelRedError",
    "ModelRedForbiddenError",
    "ModelRedNotAllowedForApiKeyError",
    "ModelRedNotFoundError",
    "ModelRedRateLimitError",
    "ModelRedResponseError",
    "ModelRedServerError",
    "ModelRedTransportError",
    "ModelRedWaitTimeoutError",
    "error_from_response",
    "parse_retry_after",
]


class ModelRedError(Exception):
    """Base class of every error the provider raises about ModelRed."""

    #: Whether the same request may succeed later (a poller may try again within its budget).
    retryable: bool = False
    #: Seconds the server asked us to wait (``Retry-After``), when it said so.
    retry_after: float | None = None

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        status: int | None = None,
        code: str | None = None,
        details: Any = None,
    ) -> None:
        # The server's words go into these fields; a server may echo the key (see api/redact.py).
        self.message = scrub(str(message))
        self.operation = operation
        self.status = status
        self.code = None if code is None else scrub(str(code))
        self.details = scrub_any(details)
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [f"ModelRed {self.operation} failed"] if self.operation else []
        parts += [f"HTTP {self.status}"] if self.status is not None else []
        text = f"{', '.join(parts)}: {self.message}" if parts else self.message
        return f"{text} [code={self.code}]" if self.code else text


class ModelRedConfigurationError(ModelRedError):
    """The connection or a parameter is unusable (bad key shape, plain http to a remote host, ...)."""


class ModelRedWaitTimeoutError(ModelRedError):
    """A wait for an assessment ran out of time (its deadline passed before the assessment ended).

    Not a transport error and not retryable: no request timed out, the assessment is simply not done.
    """

    def __init__(self, message: str, *, assessment_id: str, last_status: str | None = None) -> None:
        super().__init__(message, operation="wait for assessment")
        self.assessment_id = assessment_id
        self.last_status = last_status


class ModelRedTransportError(ModelRedError):
    """No HTTP answer; ``kind`` says which way it failed.

    * ``"connect"``: the connection could not be opened (refused, DNS, connect timeout, no free pooled
      connection, the wait's deadline had passed): the request never left us (``sent`` is False), so
      resending it is safe;
    * ``"timeout"``: the request was sent and no answer came in time; a POST may have been processed;
    * ``"tls"``: the TLS handshake or certificate verification failed (not retried: it will fail again);
    * ``"io"``: the connection broke (reset, closed) after the request may have left.
    """

    retryable = True

    def __init__(self, message: str, *, kind: str = "io", **kwargs: Any) -> None:
        if kind not in ("connect", "timeout", "tls", "io"):
            raise ValueError(f"unknown transport failure kind {kind!r}")
        self.kind = kind
        self.retryable = kind != "tls"
        super().__init__(message, **kwargs)

    @property
    def sent(self) -> bool:
        """Whether the request may have reached the server (False only when no connection was opened)."""
        return self.kind != "connect"


class ModelRedResponseError(ModelRedError):
    """The server answered something we cannot read.

    HTML, truncated JSON, wrong shape, missing id, or an answer over the size cap (``too_large``:
    asking again would not help, so it is not retryable).
    """

    retryable = True

    def __init__(self, message: str, *, too_large: bool = False, **kwargs: Any) -> None:
        self.too_large = too_large
        self.retryable = not too_large
        super().__init__(message, **kwargs)


class ModelRedAPIError(ModelRedError):
    """The server answered with an error status."""


class ModelRedAuthenticationError(ModelRedAPIError):
    """401: the API key is missing, wrong or revoked."""


class ModelRedForbiddenError(ModelRedAPIError):
    """403; ``plan_limit`` when about the plan or a limit (API needs Pro/Enterprise, concurrency cap)."""

    plan_limit: bool = False


class ModelRedNotAllowedForApiKeyError(ModelRedForbiddenError):
    """403: the action is allowed only in the ModelRed web UI (v2 cancel)."""


class ModelRedNotFoundError(ModelRedAPIError):
    """404."""


class ModelRedRateLimitError(ModelRedAPIError):
    """429 after the retries ran out."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class ModelRedServerError(ModelRedAPIError):
    """5xx."""

    retryable = True


# Words in a 403 message or code, lowercased. Plan/limit first, as the v2 SDK checks them first;
# "maximum"/"quota" catch the contract's "Maximum concurrent assessments reached" (a limit).
_PLAN_WORDS = ("plan", "limit", "subscription", "tier", "upgrade", "maximum", "quota")
_WEB_UI_WORDS = ("web ui", "requires web ui", "apikey")
_ERROR_OF_STATUS: dict[int, type[ModelRedAPIError]] = {
    401: ModelRedAuthenticationError,
    403: ModelRedForbiddenError,
    404: ModelRedNotFoundError,
    429: ModelRedRateLimitError,
}


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _server_message(payload: Any, status: int | None = None) -> tuple[str, str | None, Any]:
    """(message, code, details) of an error payload: ``error`` wins over ``message`` over ``detail``."""
    if isinstance(payload, dict):
        message = _text(payload.get("error")) or _text(payload.get("message")) or _text(payload.get("detail"))
        code = _text(payload.get("code"))
        details = payload.get("details")
    else:
        message, code, details = _text(payload), None, None
    if message and len(message) > 500:
        message = message[:500] + "..."
    return message or f"API error {status}", code, details


def error_from_response(
    operation: str, status: int, payload: Any, headers: Mapping[str, str] | None = None
) -> ModelRedAPIError:
    """Map an error answer to its typed error, as docs/modelred-api.md maps statuses (1.4 and 2.3)."""
    message, code, details = _server_message(payload, status)
    cls = _ERROR_OF_STATUS.get(status, ModelRedServerError if status >= 500 else ModelRedAPIError)
    lowered = f"{message} {code or ''}".lower()
    plan_limit = status == 403 and any(word in lowered for word in _PLAN_WORDS)
    if status == 403 and not plan_limit and any(word in lowered for word in _WEB_UI_WORDS):
        cls = ModelRedNotAllowedForApiKeyError
    error = cls(message, operation=operation, status=status, code=code, details=details)
    error.retry_after = parse_retry_after(_header(headers, "Retry-After"))
    if isinstance(error, ModelRedForbiddenError):
        error.plan_limit = plan_limit
    return error


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name.lower():
            return value
    return None


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` (delta-seconds or HTTP-date); None if absent or invalid."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None or when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, seconds) if math.isfinite(seconds) else None
