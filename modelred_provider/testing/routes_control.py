"""The control API (``/_emulator/...``, no key) and the emulator-only dashboard page."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from starlette.responses import HTMLResponse, JSONResponse, Response

from modelred_provider.testing.errors import ApiError
from modelred_provider.testing.faults import FaultBook, make_fault
from modelred_provider.testing.serialize import assessment_wire
from modelred_provider.testing.state import CANCELLED, COMPLETED, FAILED
from modelred_provider.testing.wire import decode_json, state_of

if TYPE_CHECKING:
    from starlette.requests import Request

__all__ = [
    "add_fault",
    "clear_faults",
    "created",
    "dashboard_page",
    "force",
    "get_counts",
    "health",
    "list_faults",
    "put_scenario",
    "reset_counts",
]


def _book(request: Request) -> FaultBook:
    book: FaultBook = request.app.state.faults
    return book


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        data = decode_json(raw)
    except ValueError as exc:
        raise ApiError(400, str(exc), "INVALID_JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "Request body must be a JSON object", "INVALID_JSON")
    return data


async def health(request: Request) -> JSONResponse:
    st = state_of(request)
    return JSONResponse({"status": "ok", "assessments": len(st.assessments)})


async def add_fault(request: Request) -> JSONResponse:
    body = await _body(request)
    allowed = {"method", "path", "kind", "status", "count", "retry_after", "stall_seconds"}
    unknown = set(body) - allowed
    if unknown:
        raise ApiError(
            400, f"Unknown fault field(s) {sorted(unknown)}; allowed: {sorted(allowed)}", "BAD_FAULT"
        )
    try:
        fault = make_fault(
            body.get("method", ""),
            body.get("path", ""),
            kind=body.get("kind", ""),
            status=body.get("status"),
            count=body.get("count", 1),
            retry_after=body.get("retry_after"),
            stall_seconds=body.get("stall_seconds"),
        )
    except (TypeError, ValueError) as exc:
        raise ApiError(400, str(exc), "BAD_FAULT") from None
    _book(request).add(fault)
    return JSONResponse({"data": fault.to_dict()}, status_code=201)


async def list_faults(request: Request) -> JSONResponse:
    return JSONResponse({"data": [f.to_dict() for f in _book(request).active()]})


async def clear_faults(request: Request) -> Response:
    _book(request).clear()
    return Response(status_code=204)


async def get_counts(request: Request) -> JSONResponse:
    """Route counters, plus ``connections`` (TCP connections accepted) for other processes."""
    st = state_of(request)
    with st.lock:
        return JSONResponse({**st.counts, "connections": st.connections})


async def reset_counts(request: Request) -> Response:
    state_of(request).reset_counts()
    return Response(status_code=204)


async def created(request: Request) -> JSONResponse:
    st = state_of(request)
    with st.lock:
        return JSONResponse({"data": list(st.created_ids)})


async def put_scenario(request: Request) -> JSONResponse:
    body = await _body(request)
    try:
        state_of(request).set_scenario(body)
    except ValueError as exc:
        raise ApiError(400, str(exc), "BAD_SCENARIO") from None
    return JSONResponse({"data": body})


async def force(request: Request) -> JSONResponse:
    action = request.path_params["action"]
    statuses = {"complete": COMPLETED, "fail": FAILED, "cancel": CANCELLED}
    if action not in statuses:
        raise ApiError(404, f"Unknown control action {action!r}; use complete, fail or cancel", "NOT_FOUND")
    body = await _body(request)
    error = body.get("error")
    if error is not None and not isinstance(error, str):
        raise ApiError(400, "error must be a string", "BAD_REQUEST")
    st = state_of(request)
    record = st.force(request.path_params["id"], statuses[action], error)
    return JSONResponse({"data": assessment_wire(st, record)})


async def dashboard_page(request: Request) -> HTMLResponse:
    """Emulator-only: the page that ModelRed's dashboard link points at, so links resolve in tests."""
    st = state_of(request)
    aid = request.path_params["id"]
    record = st.assessments.get(aid)
    if record is None:
        return HTMLResponse(
            f"<!doctype html><title>Not found</title><h1>Assessment {html.escape(aid)} not found</h1>", 404
        )
    a = assessment_wire(st, record)
    score = a["report"]["overall_score"] if a["report"] else "-"
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in (
            ("Model", record.model["displayName"]),
            ("Status", a["status"]),
            ("Progress", f"{a['progress']} %"),
            ("Score", score),
            ("Created", a["createdAt"]),
            ("Completed", a["completedAt"] or "-"),
        )
    )
    return HTMLResponse(
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>ModelRed assessment {html.escape(aid)}</title></head><body>"
        f"<h1>Assessment {html.escape(aid)}</h1><table>{rows}</table>"
        "<p><small>Served by the local ModelRed emulator.</small></p></body></html>"
    )
