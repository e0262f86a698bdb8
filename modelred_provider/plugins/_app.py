"""The web app mounted by the api-server at ``/modelred``: two pages and their JSON.

Authentication and authorisation are the api-server's own: ``get_user`` (the JWT cookie or bearer
token; 401 without one), ``requires_access_dag`` on XCom (the check Airflow's XCom routes run) and the
auth manager's readable DAG ids, which bound every query. Nothing here calls ModelRed.
"""

from __future__ import annotations

from typing import Annotated, Any

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, JSONResponse

from modelred_provider.plugins import _render, _store

URL_PREFIX = "/modelred"
_DEFAULT_LIMIT = 1000

# The pages run no script and load nothing: inline styles, inline SVG; framed only by Airflow's UI.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
        "frame-ancestors 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
}


def _readable_dag_ids(user: GetUserDep, session: SessionDep) -> set[str]:
    """Return the DAG ids this user may read (what Airflow's own listings filter on)."""
    return set(get_auth_manager().get_authorized_dag_ids(user=user, method="GET", session=session))


_ReadableDep = Annotated[set[str], Depends(_readable_dag_ids)]
_CAN_READ_XCOM = [Depends(requires_access_dag("GET", DagAccessEntity.XCOM))]
_LimitQuery = Annotated[int, Query(ge=1, le=_store.MAX_LIMIT)]
_OffsetQuery = Annotated[int, Query(ge=0)]

router = APIRouter()


def _airflow_base(request: Request) -> str:
    """Airflow's own path prefix (empty at the root): the mount's root path without our prefix."""
    root = str(request.scope.get("root_path") or "")
    return root[: -len(URL_PREFIX)] if root.endswith(URL_PREFIX) else ""


def _html(content: str) -> HTMLResponse:
    return HTMLResponse(content, headers=_HEADERS)


def _json(content: Any) -> JSONResponse:
    return JSONResponse(content, headers=_HEADERS)


def _history(
    readable: _ReadableDep,
    session: SessionDep,
    dag_id: str | None = None,
    model: str | None = None,
    limit: _LimitQuery = _DEFAULT_LIMIT,
    offset: _OffsetQuery = 0,
) -> tuple[list[_store.Run], dict[str, Any]]:
    """Return the readable summaries one page of history shows, and the query that chose them."""
    query: dict[str, Any] = {"dag_id": dag_id, "model": model, "limit": limit, "offset": offset}
    return _store.history(session, readable, **query), query


_HistoryDep = Annotated[tuple[list[_store.Run], dict[str, Any]], Depends(_history)]


@router.get("/", dependencies=_CAN_READ_XCOM, response_class=HTMLResponse)
def history_page(
    request: Request, history: _HistoryDep, readable: _ReadableDep, session: SessionDep
) -> HTMLResponse:
    runs, query = history
    dags, models = _store.facets(session, readable)
    return _html(_render.history_page(runs, dags=dags, models=models, base=_airflow_base(request), **query))


@router.get("/api/history", dependencies=_CAN_READ_XCOM)
def history_json(history: _HistoryDep) -> JSONResponse:
    runs, query = history
    return _json({"limit": query["limit"], "offset": query["offset"], "runs": [r.as_json() for r in runs]})


# (dag_id, run_id, task_id, map_index), its summary (None: none, or a DAG the user may not read), its trend
_TaskReport = tuple[tuple[str, str, str, int], _store.Run | None, list[_store.Run]]


def _task_report(
    readable: _ReadableDep,
    session: SessionDep,
    dag_id: str,
    run_id: str,
    task_id: str,
    map_index: str | None = None,
) -> _TaskReport:
    """Return the task instance, its summary and its trend; no summary for a DAG the user may not read."""
    try:  # the UI substitutes {MAP_INDEX} only for mapped tasks; anything else is the unmapped -1
        index = int(map_index) if map_index is not None else -1
    except ValueError:
        index = -1
    ti = (dag_id, run_id, task_id, index)
    if dag_id not in readable:
        return ti, None, []
    return ti, *_store.task_report(session, *ti)


_TaskDep = Annotated[_TaskReport, Depends(_task_report)]


@router.get("/ti/{dag_id}/{run_id}/{task_id}", dependencies=_CAN_READ_XCOM, response_class=HTMLResponse)
def task_page(request: Request, report: _TaskDep) -> HTMLResponse:
    ti, current, trend = report
    if current is None:
        return _html(_render.no_report_page(*ti))
    return _html(_render.ti_page(current, trend, _airflow_base(request)))


@router.get("/api/ti/{dag_id}/{run_id}/{task_id}", dependencies=_CAN_READ_XCOM)
def task_json(report: _TaskDep) -> JSONResponse:
    _, current, trend = report
    if current is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "No ModelRed summary for this task instance")
    return _json({"current": current.as_json(), "trend": [r.as_json() for r in trend]})


def create_app() -> FastAPI:
    """Build the app the plugin mounts (built by the api-server on the first request)."""
    app = FastAPI(title="ModelRed", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(router)
    return app
