"""ModelRedAssessmentTrigger: waits, on the triggerer, for an assessment to reach a terminal status.

* Async end to end: the connection is read with ``await BaseHook.aget_connection`` inside the
  hook's async side, and one HTTP client is held for the trigger's whole life (``async with hook``).
* GET only while waiting, so running it twice (triggerer restart, redistribution) is harmless.
* ``serialize()`` holds ids and settings only, never a secret; ``deadline`` is absolute, so a
  trigger rebuilt mid-wait keeps the same deadline.
* Yields exactly one event: ``{"status", "reason", "assessment_id", "message", "assessment_status"}``.
* ``cleanup()`` only releases the HTTP client. ``on_kill()`` (a user marked the deferred task
  failed/success or cleared it) cancels the assessment best-effort. A ``CancelledError`` (triggerer
  shutting down or moving the trigger) cancels nothing and is always re-raised.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Hashable
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from modelred_provider.api.vocabulary import ApiGeneration
from modelred_provider.triggers import shared
from modelred_provider.waiting.outcome import TerminationReason, make_event
from modelred_provider.waiting.parameters import DEFAULT_RETRY_BUDGET, check_positive
from modelred_provider.waiting.policy import PollPolicy, Step

if TYPE_CHECKING:
    from modelred_provider.hooks.modelred import ModelRedHook

__all__ = [
    "ModelRedAssessmentTrigger",
]

#: Upper bound for the best-effort cancel in ``on_kill`` (seconds).
_CANCEL_TIMEOUT = 30.0


class ModelRedAssessmentTrigger(BaseEventTrigger):
    """Poll ``GET /assessments/{id}`` until the assessment ends or ``deadline`` (epoch seconds) passes.

    A deferral trigger that is a ``BaseEventTrigger`` only so that Airflow 3.3's triggerer can group
    it (``shared_stream_key``): the triggers of one connection, API generation and poll interval then
    share one list request per interval (:mod:`modelred_provider.triggers.shared`) and each sends its
    own GET only when its assessment is not in the list. Standalone (``run()``: ``dag.test()``, poll
    intervals under a second) it polls with its own GETs. Either way: the same policy, one event.

    :param assessment_id: the assessment to wait for.
    :param modelred_conn_id: the ModelRed connection (its API key is read on the triggerer).
    :param api_generation: ``"resources"`` or ``"v2"``.
    :param poll_interval: seconds between two polls.
    :param deadline: absolute epoch seconds after which the wait ends with ``reason="timeout"``.
    :param retry_budget: transient failures tolerated in a row before ending with ``reason="error"``.
    :param cancel_on_kill: whether ``on_kill`` cancels the assessment (the operator owns it: True;
        the sensor only watches it: False).
    """

    #: A deferral trigger runs on the task's triggerer queue (``BaseEventTrigger`` turns that off).
    supports_triggerer_queue: bool = True

    def __init__(
        self,
        assessment_id: str,
        modelred_conn_id: str = "modelred_default",
        api_generation: str = ApiGeneration.RESOURCES.value,
        poll_interval: float = 30.0,
        deadline: float | None = None,
        retry_budget: int = DEFAULT_RETRY_BUDGET,
        cancel_on_kill: bool = True,
    ) -> None:
        super().__init__()
        self.assessment_id = str(assessment_id)
        self.modelred_conn_id = modelred_conn_id
        self.api_generation = ApiGeneration(api_generation).value
        # Rebuilt from its serialized kwargs: check them again. A NaN interval never sleeps (a tight
        # GET loop) and a NaN deadline never passes.
        interval = check_positive(poll_interval, "poll_interval")
        if interval is None:  # without allow_none it is a number or raises
            raise ValueError("poll_interval is required")
        self.poll_interval = interval
        self.deadline = check_positive(deadline, "deadline", allow_none=True)
        self.retry_budget = int(retry_budget)
        self.cancel_on_kill = bool(cancel_on_kill)
        self._hook: ModelRedHook | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "assessment_id": self.assessment_id,
                "modelred_conn_id": self.modelred_conn_id,
                "api_generation": self.api_generation,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "retry_budget": self.retry_budget,
                "cancel_on_kill": self.cancel_on_kill,
            },
        )

    def _new_hook(self) -> ModelRedHook:
        from modelred_provider.hooks.modelred import ModelRedHook

        return ModelRedHook(modelred_conn_id=self.modelred_conn_id)

    # ------------------------------------------------------------------ standalone: one GET per poll
    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Standalone (``dag.test()``, or a triggerer that does not share): this trigger's own GETs."""
        async for event in self._events(None):
            yield event

    # ------------------------------------------------------------------ shared: one list per group
    def shared_stream_key(self) -> Hashable | None:
        """Triggers of one connection, API generation and poll interval share one list per interval;
        None (each polls alone, ``run()``) below 1 s or with ``[modelred] shared_stream = False``."""
        return shared.stream_key(self.modelred_conn_id, self.api_generation, self.poll_interval)

    @classmethod
    async def open_shared_stream(cls, kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        """Run once per group by the triggerer: the newest assessments, listed once per interval."""
        async for snapshot in shared.open_stream(kwargs):
            yield snapshot

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        """This trigger's one event, read from the group's lists (its own GET when it is not listed)."""
        key = shared.group_key(self.modelred_conn_id, self.api_generation, self.poll_interval)
        if key is not None:
            shared.register(key, self.assessment_id)
        try:
            async for event in self._events(shared_stream):
                yield event
        finally:
            if key is not None:
                shared.unregister(key, self.assessment_id)

    # ------------------------------------------------------------------ one wait for both paths
    async def _events(self, stream: AsyncIterator[Any] | None) -> AsyncIterator[TriggerEvent]:
        self._hook = hook = self._new_hook()
        try:
            async with hook:
                payload = await self._wait(hook, stream)
        except Exception as error:  # the connection is missing or unusable: one error event, not a crash
            payload = make_event(
                TerminationReason.ERROR,
                self.assessment_id,
                f"Cannot poll {self.assessment_id} via connection {self.modelred_conn_id!r}: {error}",
            )
        self.log.info("ModelRed assessment %s: %s", self.assessment_id, payload["message"])
        yield TriggerEvent(payload)

    async def _wait(self, hook: ModelRedHook, stream: AsyncIterator[Any] | None) -> dict[str, Any]:
        """Poll until the policy ends the wait; returns the event's payload.

        Without ``stream`` every check is a GET, ``step.delay`` apart. With it, a check takes the
        assessment from the group's snapshot when listed; this trigger sends its own GET when a
        snapshot does not list it (or the list failed) and a check is due, or when no snapshot came
        half an interval after a check fell due (the group's list is slow), or at the deadline. A
        broken stream (the group's loop ended) leaves this trigger on its own GETs.
        """
        policy = PollPolicy(
            self.assessment_id,
            poll_interval=self.poll_interval,
            deadline=self.deadline,
            retry_budget=self.retry_budget,
        )
        policy.max_wait = (await hook.asettings()).poll_max_wait
        generation = ApiGeneration(self.api_generation)
        loop = asyncio.get_running_loop()
        grace = self.poll_interval / 2
        next_due = loop.time()  # the first check is this trigger's own GET, at once (as standalone)
        first = True
        reader: asyncio.Future[Any] | None = None
        try:
            while True:
                assessment = None
                if stream is None or first:
                    first = False
                    await asyncio.sleep(max(0.0, next_due - loop.time()))
                else:
                    if reader is None:
                        reader = asyncio.ensure_future(anext(stream))
                    wake = next_due + grace
                    if self.deadline is not None:
                        wake = min(wake, loop.time() + self.deadline - time.time())
                    await asyncio.wait((reader,), timeout=max(0.0, wake - loop.time()))
                    if reader.done():
                        done, reader = reader, None
                        try:
                            snapshot = done.result()
                        except Exception as error:  # the group's loop ended: go on alone
                            self.log.warning("Shared assessment list ended (%s); polling alone", error)
                            stream = None
                            continue
                        assessment = snapshot.get(self.assessment_id) if snapshot is not None else None
                        if assessment is None and loop.time() < next_due - grace:
                            continue  # not listed, and no check due yet (or backing off)
                if assessment is None:
                    step = await self._read(hook, policy, generation)
                else:
                    step = policy.observe(assessment, self.log)
                if step.event is not None:
                    return step.event
                next_due = loop.time() + step.delay
        finally:
            if reader is not None:
                reader.cancel()

    async def _read(self, hook: ModelRedHook, policy: PollPolicy, generation: ApiGeneration) -> Step:
        """This trigger's own GET (no report read), fed to the policy's per-step helpers."""
        try:
            assessment = await hook.aget_assessment(
                self.assessment_id, api_generation=generation, deadline=policy.deadline, report=False
            )
        except Exception as error:  # CancelledError is a BaseException: it passes through
            return policy.failed(error, self.log)
        return policy.observe(assessment, self.log)

    async def cleanup(self) -> None:
        """Release the HTTP client only; never touches the assessment."""
        hook, self._hook = self._hook, None
        if hook is not None:
            await hook.aclose()

    async def on_kill(self) -> None:
        """A user acted on the deferred task: cancel the assessment, best effort, never raise."""
        if not self.cancel_on_kill:
            return
        try:
            async with self._new_hook() as hook:
                await asyncio.wait_for(
                    hook.acancel_assessment(
                        self.assessment_id, api_generation=ApiGeneration(self.api_generation)
                    ),
                    _CANCEL_TIMEOUT,
                )
            self.log.info("Cancelled ModelRed assessment %s", self.assessment_id)
        except Exception as error:
            from modelred_provider.api.errors import ModelRedNotAllowedForApiKeyError

            if isinstance(error, ModelRedNotAllowedForApiKeyError):
                self.log.warning(
                    "An API key may not cancel assessment %s: cancel it in the ModelRed UI (%s)",
                    self.assessment_id,
                    error,
                )
            else:
                self.log.warning("Could not cancel ModelRed assessment %s: %s", self.assessment_id, error)
