"""The peers' triggers, as a user without our provider would wait on a ModelRed assessment.

``HttpSensorTrigger`` (what a deferrable ``HttpSensor`` on the assessment URL creates) fires on the
first non-404 answer, and ``HttpSensor`` does not defer at all once a ``response_check`` is given. So a
user who wants to wait for a terminal status with the HTTP provider gets one of these:

* ``HttpSensorTriggerWithCheck``: ``HttpSensorTrigger``'s own poll loop (one ``aiohttp.ClientSession``
  per poll, the hook's ``run``), plus the response check that the sensor would have run: read the body,
  stop when the status is terminal. Nothing else is changed.
* ``HttpEventTrigger`` (unchanged, from the HTTP provider) with ``response_check_path`` pointing at
  ``assessment_is_terminal`` below: the provider's own "poll until a check passes" trigger.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from airflow.providers.common.compat.sdk import AirflowException
from airflow.providers.http.triggers.http import HttpSensorTrigger
from airflow.triggers.base import TriggerEvent

TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED"})


def status_of(body: Any) -> str:
    """The assessment status from a resources-API body (``{"data": {...}}`` or bare)."""
    obj = body.get("data", body) if isinstance(body, dict) else {}
    return str(obj.get("status", "")).upper()


async def assessment_is_terminal(response: Any) -> bool:
    """``response_check`` for ``HttpEventTrigger`` (it passes a ``requests.Response``)."""
    return status_of(response.json()) in TERMINAL


class HttpSensorTriggerWithCheck(HttpSensorTrigger):
    """``HttpSensorTrigger.run`` plus the terminal-status check (see the module docstring)."""

    def serialize(self) -> tuple[str, dict[str, Any]]:
        _, kwargs = super().serialize()
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = self._get_async_hook()
        while True:
            try:
                async with aiohttp.ClientSession() as session:
                    response = await hook.run(
                        session=session,
                        endpoint=self.endpoint,
                        data=self.data,
                        headers=self.headers,
                        extra_options=self.extra_options,
                    )
                    status = status_of(await response.json())
                if status in TERMINAL:
                    yield TriggerEvent({"status": "success", "assessment_status": status})
                    return
            except AirflowException as exc:
                if not str(exc).startswith("404"):
                    raise
            await asyncio.sleep(self.poke_interval)
