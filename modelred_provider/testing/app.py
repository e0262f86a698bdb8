"""The emulator's ASGI app: one route table (also naming counters), JSON errors, guards, fault middleware."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.routing import Route, compile_path

from modelred_provider.testing import routes_control as control
from modelred_provider.testing import routes_models as models
from modelred_provider.testing import routes_resources as resources
from modelred_provider.testing import routes_v2 as v2
from modelred_provider.testing.errors import ApiError
from modelred_provider.testing.faults import ASGIApp, FaultBook, FaultMiddleware
from modelred_provider.testing.guard import GuardMiddleware
from modelred_provider.testing.wire import error_response

if TYPE_CHECKING:
    from starlette.requests import Request

    from modelred_provider.testing.state import EmulatorState

__all__ = ["build_app", "route_template"]

# (method, route template, endpoint). Templates use {id}; counters are keyed "METHOD template".
_API_ROUTES: tuple[tuple[str, str, Any], ...] = (
    ("GET", "/api/models", models.list_models),
    ("POST", "/api/models", models.create_model),
    ("GET", "/api/models/{id}", models.get_model),
    ("DELETE", "/api/models/{id}", models.delete_model),
    ("GET", "/api/assessments", resources.list_assessments),
    ("POST", "/api/assessments", resources.create_assessment),
    ("GET", "/api/assessments/{id}", resources.get_assessment),
    ("GET", "/api/probes", resources.list_probes),
    ("GET", "/api/v2/assessments", v2.list_assessments),
    ("POST", "/api/v2/assessments", v2.create_assessment),
    ("GET", "/api/v2/assessments/{id}", v2.get_assessment),
    ("PATCH", "/api/v2/assessments/{id}", v2.patch_assessment),
    ("GET", "/api/v2/probes", v2.list_owned_packs),
    ("GET", "/api/v2/probes/imported", v2.list_imported_packs),
    ("GET", "/api/v2/probes/{id}", v2.get_pack),
    ("GET", "/api/v2/probes/{id}/data", v2.get_pack_data),
    ("GET", "/assessments/{id}", control.dashboard_page),
)
_CONTROL_ROUTES: tuple[tuple[str, str, Any], ...] = (
    ("GET", "/_emulator/health", control.health),
    ("GET", "/_emulator/faults", control.list_faults),
    ("POST", "/_emulator/faults", control.add_fault),
    ("DELETE", "/_emulator/faults", control.clear_faults),
    ("GET", "/_emulator/counts", control.get_counts),
    ("DELETE", "/_emulator/counts", control.reset_counts),
    ("GET", "/_emulator/assessments", control.created),
    ("PUT", "/_emulator/scenario", control.put_scenario),
    ("POST", "/_emulator/assessments/{id}/{action}", control.force),
)

_TEMPLATES = [(compile_path(path)[0], path) for _, path, _ in _API_ROUTES]


def route_template(method: str, path: str) -> str:
    """Return the route template a path matches (``/api/assessments/{id}``), else the raw path."""
    del method  # templates do not depend on the method; a wrong method still counts under its route
    for regex, template in _TEMPLATES:
        if regex.match(path):
            return template
    return path


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, ApiError):  # registered for ApiError only
        raise exc
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, HTTPException):  # registered for HTTPException only
        raise exc
    if exc.status_code == 405:
        return JSONResponse(
            {
                "error": f"Method {request.method} not allowed on {request.url.path}",
                "code": "METHOD_NOT_ALLOWED",
                "details": None,
            },
            405,
            headers=exc.headers,
        )
    if exc.status_code == 404:
        return JSONResponse(
            {"error": f"No route {request.url.path}", "code": "NOT_FOUND", "details": None}, 404
        )
    return JSONResponse(
        {"error": str(exc.detail), "code": f"HTTP_{exc.status_code}", "details": None}, exc.status_code
    )


async def _server_error(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"error": "Internal server error", "code": "INTERNAL_ERROR", "details": None}, 500)


def build_app(state: EmulatorState, faults: FaultBook, allowed_hosts: Iterable[str] = ()) -> ASGIApp:
    """Guards first (a refused request is neither counted nor faulted), then faults, then the routes."""
    routes = [
        Route(path, endpoint, methods=[method]) for method, path, endpoint in (*_API_ROUTES, *_CONTROL_ROUTES)
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={ApiError: _api_error, HTTPException: _http_error, Exception: _server_error},
    )
    app.state.emulator = state
    app.state.faults = faults
    return GuardMiddleware(FaultMiddleware(app, faults, route_template, state.count), allowed_hosts)
