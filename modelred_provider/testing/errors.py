"""The one error type of the emulator: an HTTP status plus the contract's flat error body."""

from __future__ import annotations

from typing import Any

__all__ = ["RESOURCES", "V2", "ApiError", "assessment_not_found", "not_found", "validation_error"]

RESOURCES = "resources"
V2 = "v2"


class ApiError(Exception):
    """Answered as ``{"error": message, "code": code, "details": details, **extra}`` with ``status``."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str,
        details: Any = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.details = details
        self.extra = extra or {}
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "code": self.code, "details": self.details, **self.extra}


def validation_error(
    generation: str, message: str, details: Any = None, code: str = "VALIDATION_ERROR"
) -> ApiError:
    """Bad input: 422 on the resources API (E2), 400 on v2 (E3), as the contract records."""
    return ApiError(422 if generation == RESOURCES else 400, message, code, details)


def not_found(message: str, code: str, details: Any = None) -> ApiError:
    return ApiError(404, message, code, details)


def assessment_not_found(assessment_id: str) -> ApiError:
    return ApiError(404, "Assessment not found", "ASSESSMENT_NOT_FOUND", {"assessmentId": assessment_id})
