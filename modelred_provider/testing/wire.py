"""Request/response plumbing shared by the route modules: auth, query parsing, envelopes, pagination."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse

from modelred_provider.testing.errors import RESOURCES, ApiError, validation_error
from modelred_provider.testing.state import PLAN_MESSAGE, EmulatorState

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = [
    "Caller",
    "authenticate",
    "decode_json",
    "error_response",
    "generation_of_models_route",
    "json_body",
    "ok",
    "page_envelope",
    "q_choice",
    "q_int",
    "sort_items",
    "state_of",
]


@dataclass(frozen=True)
class Caller:
    """An authenticated request's key and the organisations it sees."""

    api_key: str
    orgs: frozenset[str]


def state_of(request: Request) -> EmulatorState:
    st: EmulatorState = request.app.state.emulator
    return st


def authenticate(request: Request) -> Caller:
    """Bearer or x-api-key (both accepted on every route; if both are sent they must be the same key)."""
    state = state_of(request)
    auth = request.headers.get("authorization", "")
    bearer = auth[7:].strip() if auth[:7].lower() == "bearer " else None
    header_key = request.headers.get("x-api-key")
    if bearer and header_key and bearer != header_key:
        raise ApiError(
            401, "Invalid API key", "UNAUTHORIZED", "Authorization and x-api-key carry different keys"
        )
    key = bearer or header_key
    if not key:
        raise ApiError(401, "Invalid API key", "UNAUTHORIZED", "Send 'Authorization: Bearer mr_...'")
    if key not in state.valid_keys:
        raise ApiError(401, "Invalid API key", "UNAUTHORIZED")
    if key in state.free_tier_keys:
        raise ApiError(403, PLAN_MESSAGE, "SUBSCRIPTION_REQUIRED", None, {"tier": "free"})
    return Caller(key, state.visible_orgs(key, request.headers.get("x-organization-id")))


def ok(payload: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(payload, status_code=status)


def error_response(exc: ApiError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


def decode_json(raw: bytes) -> Any:
    """``json.loads`` for every request body of the emulator (API and control routes alike).

    Raises ``ValueError`` with a message for the client when the body is not JSON, not UTF-8, or nested so
    deeply that the decoder runs out of recursion (``[[[[...``: a RecursionError, else a generic 500).
    """
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"Request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ValueError("Request body is not valid JSON: nested too deeply") from None


async def json_body(request: Request, generation: str) -> dict[str, Any]:
    raw = await request.body()
    try:
        data = decode_json(raw) if raw else None
    except ValueError as exc:
        raise validation_error(generation, str(exc), None, "INVALID_JSON") from None
    if not isinstance(data, dict):
        raise validation_error(
            generation, "Request body must be a JSON object", {"got": type(data).__name__}, "INVALID_JSON"
        )
    return data


def q_int(request: Request, name: str, default: int, generation: str, maximum: int | None = None) -> int:
    """Read a positive integer query parameter (``page``/``pageSize`` are strings), capped at ``maximum``."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise validation_error(
            generation,
            f"Query parameter '{name}' must be a positive integer, got {raw!r}",
            {"parameter": name},
        )
    return min(value, maximum) if maximum is not None else value


def q_choice(
    request: Request,
    name: str,
    allowed: Sequence[str],
    default: str | None,
    generation: str,
    *,
    case_insensitive: bool = False,
) -> str | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if case_insensitive:
        for a in allowed:
            if a.lower() == raw.lower():
                return a
    elif raw in allowed:
        return raw
    raise validation_error(
        generation,
        f"Query parameter '{name}' must be one of {', '.join(allowed)}; got {raw!r}",
        {"parameter": name, "allowed": list(allowed)},
    )


def page_envelope(
    items: Sequence[Any], page: int, page_size: int, *, success: bool, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Build ``{data: [...], page, pageSize, total, totalPages, pagination: {...}}`` (+ ``success`` on v2)."""
    total = len(items)
    total_pages = max(1, math.ceil(total / page_size))
    start = (page - 1) * page_size
    body: dict[str, Any] = {"success": True} if success else {}
    body.update(
        {
            "data": list(items[start : start + page_size]),
            "page": page,
            "pageSize": page_size,
            "total": total,
            "totalPages": total_pages,
            "pagination": {"page": page, "pageSize": page_size, "total": total, "totalPages": total_pages},
        }
    )
    if extra:
        body.update(extra)
    return body


def sort_items(items: list[dict[str, Any]], field: str, direction: str) -> list[dict[str, Any]]:
    """Stable sort on a wire field; None sorts last in ascending order."""

    def key(item: dict[str, Any]) -> tuple[int, Any]:
        v = item.get(field)
        if isinstance(v, bool):
            v = int(v)
        if isinstance(v, str):
            v = v.lower()
        return (1, "") if v is None else (0, v)

    return sorted(items, key=key, reverse=direction == "desc")


def generation_of_models_route(request: Request) -> str:
    """``/api/models`` is shared: a request with ``x-api-key`` (only the v2 SDK sends it) gets v2 errors."""
    return "v2" if request.headers.get("x-api-key") else RESOURCES
