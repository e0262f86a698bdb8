"""A trigger that measures the triggerer's own event-loop lag (bench/real_triggerer.py).

It sleeps ``period`` seconds in a loop inside the real triggerer and records how late each wake-up is;
every ``flush`` seconds it appends the lags (ms) of that stretch to ``path`` as one JSON line. It
never fires (the benchmark stops the triggerer). Bench-only: never part of the provider.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class LoopLagProbe(BaseTrigger):
    def __init__(self, path: str, period: float = 0.01, flush: float = 1.0) -> None:
        super().__init__()
        self.path = path
        self.period = period
        self.flush = flush

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.{type(self).__qualname__}", {
            "path": self.path,
            "period": self.period,
            "flush": self.flush,
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        import asyncio

        lags: list[float] = []
        flushed = time.monotonic()
        while True:
            before = time.perf_counter()
            await asyncio.sleep(self.period)
            lags.append(round((time.perf_counter() - before - self.period) * 1000, 2))
            if time.monotonic() - flushed >= self.flush:
                line = json.dumps({"t": time.time(), "lags_ms": lags})
                with open(self.path, "a") as fh:  # noqa: ASYNC230 - a few hundred bytes a second
                    fh.write(line + "\n")
                lags, flushed = [], time.monotonic()
        yield TriggerEvent(None)  # pragma: no cover - never reached
