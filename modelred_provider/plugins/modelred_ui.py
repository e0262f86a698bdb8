"""The Airflow plugin of the provider: a "ModelRed" tab on task instances and a "ModelRed" page.

Registered through the ``airflow.plugins`` entry point (pyproject.toml), which Airflow 3.3 reads in
every process that loads plugins, with the default ``lazy_discover_providers``. Every such process
imports this module, so it imports only Airflow's plugin base and configuration (both already loaded
there); FastAPI, the queries and the rendering load in the api-server on the first request.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any
from urllib.parse import quote, urlsplit

from airflow.configuration import conf
from airflow.plugins_manager import AirflowPlugin

__all__ = ["ModelRedUIPlugin"]

_URL_PREFIX = "/modelred"  # also modelred_provider.plugins._app.URL_PREFIX
# A small shield, as a data URL: the UI shows it as the tab's and the menu entry's icon.
_ICON = "data:image/svg+xml," + quote(
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="#dc2626" '
    'stroke-width="2"><path d="M12 2 4 5v6c0 5 3.4 9.4 8 11 4.6-1.6 8-6 8-11V5z"/>'
    '<path d="m9 12 2 2 4-4"/></svg>'
)


class _LazyApp:
    """An ASGI app that builds the real one on its first request (keeps FastAPI out of other processes)."""

    def __init__(self, factory: str) -> None:
        self._factory = factory
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            module, _, name = self._factory.partition(":")
            self._app = getattr(import_module(module), name)()
        await self._app(scope, receive, send)


def _base_path() -> str:
    """Airflow's path prefix when it is served below the root of its host (``[api] base_url``)."""
    return urlsplit(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")


class ModelRedUIPlugin(AirflowPlugin):
    """The pages of the ModelRed provider in Airflow's UI, drawn from the summaries in XCom."""

    name = "modelred"
    fastapi_apps = [
        {
            "app": _LazyApp("modelred_provider.plugins._app:create_app"),
            "url_prefix": _URL_PREFIX,
            "name": "ModelRed",
        }
    ]
    external_views = [
        {
            "name": "ModelRed",
            "href": f"{_base_path()}{_URL_PREFIX}{path}",
            "destination": where,
            "url_route": route,
            "icon": _ICON,
        }
        for path, where, route in (
            ("/", "nav", "modelred"),
            ("/ti/{DAG_ID}/{RUN_ID}/{TASK_ID}?map_index={MAP_INDEX}", "task_instance", "modelred-report"),
        )
    ]
