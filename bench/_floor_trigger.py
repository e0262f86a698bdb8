"""The floor (bench only): the least a trigger can do per poll with aiohttp on one shared session
(``FloorTrigger``), and a trigger that does nothing at all (``SleepTrigger``).

No retries, no parsing beyond the status, no connection look-up after the first: it shows how much of
a trigger's CPU per poll is the HTTP client itself on this machine, so the other figures can be read
against what no design could go below.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from airflow.triggers.base import BaseTrigger, TriggerEvent

_SESSION: aiohttp.ClientSession | None = None
TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED"})


class FloorTrigger(BaseTrigger):
    def __init__(self, url: str, poll_interval: float) -> None:
        super().__init__()
        self.url = url
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.{type(self).__qualname__}", {
            "url": self.url,
            "poll_interval": self.poll_interval,
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        global _SESSION
        if _SESSION is None:
            conn = json.loads(os.environ["AIRFLOW_CONN_BENCH_MODELRED"])
            _SESSION = aiohttp.ClientSession(headers={"Authorization": f"Bearer {conn['password']}"})
        while True:
            async with _SESSION.get(self.url) as response:
                body = await response.json()
            status = str(body.get("data", body).get("status", "")).upper()
            if status in TERMINAL:
                yield TriggerEvent({"status": "success", "assessment_status": status})
                return
            await asyncio.sleep(self.poll_interval)


class SleepTrigger(BaseTrigger):
    """Does nothing but wake once per poll and look for a file (bench only): what holding N triggers
    costs the triggerer itself (Airflow's share of every contender's CPU), with no request at all.

    Fires when ``marker`` exists (the bench creates it to end every wait at once).
    """

    def __init__(self, marker: str, poll_interval: float) -> None:
        super().__init__()
        self.marker = marker
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.{type(self).__qualname__}", {
            "marker": self.marker,
            "poll_interval": self.poll_interval,
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while not os.path.exists(self.marker):  # noqa: ASYNC110, ASYNC240 - one stat per poll is its work
            await asyncio.sleep(self.poll_interval)
        yield TriggerEvent({"status": "success"})
