"""Experiment (bench only): ModelRed triggers of one connection share one list request per interval.

Airflow 3.3 runs one poll loop per ``shared_stream_key`` for ``BaseEventTrigger`` subclasses
(``TriggerRunner.run_trigger`` checks ``isinstance(trigger, BaseEventTrigger)``; nothing stops a
deferral trigger from being one). Here the shared loop lists the newest ``MODELRED_BENCH_LIST_LIMIT``
assessments (the resources API's list takes only ``limit``, newest first: contract section 1.2) once per
poll interval; each trigger picks its own assessment from that answer and, when it is not there (the
list was capped, or failed), falls back to its own ``GET``. Deadlines, retry budget and events go
through the same ``PollPolicy`` as the real trigger. It reaches into the hook's private async
transport because the hook has no async list; if kept, the hook would grow ``alist_assessments``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Hashable
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from modelred_provider.api import endpoints, parsing
from modelred_provider.api.models import ApiGeneration, Assessment
from modelred_provider.hooks.modelred import ModelRedHook
from modelred_provider.polling import PollPolicy
from modelred_provider.triggers.assessment import ModelRedAssessmentTrigger

LIST_LIMIT = int(os.environ.get("MODELRED_BENCH_LIST_LIMIT", "100"))


async def list_once(hook: ModelRedHook, generation: ApiGeneration, limit: int) -> dict[str, Assessment]:
    spec = endpoints.list_assessments(generation, limit=limit)
    transport = await hook._atransport()
    payload = await transport.call(spec)
    items = parsing.unwrap_list(payload, "assessments", spec.operation)
    found = (parsing.parse_assessment(item, generation, spec.operation) for item in items)
    return {a.id: a for a in found}


class SharedPollModelRedTrigger(ModelRedAssessmentTrigger, BaseEventTrigger):
    def shared_stream_key(self) -> Hashable | None:
        return ("modelred-assessments", self.modelred_conn_id, self.api_generation, self.poll_interval)

    @classmethod
    async def open_shared_stream(cls, kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        generation = ApiGeneration(kwargs["api_generation"])
        async with ModelRedHook(modelred_conn_id=kwargs["modelred_conn_id"]) as hook:
            while True:
                try:
                    snapshot: dict[str, Assessment] | None = await list_once(hook, generation, LIST_LIMIT)
                except Exception as error:  # every subscriber falls back to its own GET this round
                    hook.log.warning("Shared assessment list failed: %s", error)
                    snapshot = None
                yield snapshot
                await asyncio.sleep(float(kwargs["poll_interval"]))

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        policy = PollPolicy(
            self.assessment_id,
            poll_interval=self.poll_interval,
            deadline=self.deadline,
            retry_budget=self.retry_budget,
        )
        generation = ApiGeneration(self.api_generation)
        self._hook = hook = self._new_hook()
        async with hook:
            async for snapshot in shared_stream:
                assessment = (snapshot or {}).get(self.assessment_id)
                if assessment is None:
                    try:
                        assessment = await hook.aget_assessment(self.assessment_id, api_generation=generation)
                    except Exception as error:
                        step = policy.on_error(error)
                        if step.event is not None:
                            yield TriggerEvent(step.event)
                            return
                        continue
                step = policy.on_assessment(assessment)
                if step.event is not None:
                    yield TriggerEvent(step.event)
                    return
