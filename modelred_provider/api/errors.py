"""The error hierarchy of the ModelRed API and the status/payload -> error mapping.

Every error names the operation, the HTTP status, the server's message and code. None of them
ever carries the API key: messages are built from the server's answer and our own words only.
"""

from __future__ import annotations

from typing import Any


class ModelRedError(Exception):
    """Base class of every error the provider raises about ModelRed."""

    #: Whether the same request may succeed later (a poller may try again within its budget).
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        status: int | None = None,
        code: str | None = None,
        details: Any = None,
    ) -> None:
        self.message = message
        self.operation = operation
        self.status = status
        self.code = code
        self.details = details
        super().__init__(self._render())

    def _render(self) -> str:
        parts = []
        if self.operation:
            parts.append(f"ModelRed {self.operation} failed")
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        head = ": ".join([", ".join(parts)] if parts else [])
        text = f"{head}: {self.message}" if head else self.message
        if self.code:
            text += f" [code={self.code}]"
        return text


class ModelRedConfigurationError(ModelRedError):
    """The connection or a parameter is unusable (bad key shape, plain http to a remote host, ...)."""


class ModelRedTransportError(ModelRedError):
    """No HTTP answer: connection refused or reset, DNS, TLS, timeout."""

    retryable = True


class ModelRedTimeoutError(ModelRedTransportError):
    """The request timed out; for a POST the server may have processed it."""


class ModelRedTLSError(ModelRedTransportError):
    """TLS handshake or certificate verification failed."""

    retryable = False


class ModelRedResponseError(ModelRedError):
    """The server answered something we cannot read: HTML, truncated JSON, wrong shape, missing id."""

    retryable = True


class ModelRedAPIError(ModelRedError):
    """The server answered with an error status."""


class ModelRedAuthenticationError(ModelRedAPIError):
    """401: the API key is missing, wrong or revoked."""


class ModelRedForbiddenError(ModelRedAPIError):
    """403."""


class ModelRedPlanLimitError(ModelRedForbiddenError):
    """403 about the plan or a limit (API access needs Pro/Enterprise, too many concurrent assessments)."""


class ModelRedNotAllowedForApiKeyError(ModelRedForbiddenError):
    """403: the action is allowed only in the ModelRed web UI (v2 cancel)."""


class ModelRedNotFoundError(ModelRedAPIError):
    """404."""


class ModelRedConflictError(ModelRedAPIError):
    """409 (for example: model already exists)."""


class ModelRedValidationError(ModelRedAPIError):
    """400, 412 or 422: the request was refused as invalid."""


class ModelRedRateLimitError(ModelRedAPIError):
    """429 after the retries ran out."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class ModelRedServerError(ModelRedAPIError):
    """5xx."""

    retryable = True
