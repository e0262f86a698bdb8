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

from modelred_provider.api.errors import ModelRedNotAllowedForApiKeyError
from modelred_provider.api.models import Assessment
from modelred_provider.api.vocabulary import ApiGeneration
from modelred_provider.triggers import shared
from modelred_provider.waiting.loop import poll_until_done
from modelred_provider.waiting.outcome import TerminationReason, make_event
from modelred_provider.waiting.parameters import DEFAULT_RETRY_BUDGET, check_positive
from modelred_provider.waiting.policy import PollPolicy, Step

if TYPE_CHECKING:
    from modelred_provider.hooks.modelred import ModelRedHook

__all__ = ["EVENT_ASSESSMENT_MAX_BYTES", "ModelRedAssessmentTrigger"]

#: Upper bound for the best-effort cancel in ``on_kill`` (seconds).
_CANCEL_TIMEOUT = 30.0
#: The largest answer (bytes, decoded) the final event carries as ``assessment``; beyond it the task
#: reads the assessment at resume (the event is stored in the metadata database).
EVENT_ASSESSMENT_MAX_BYTES = 32 * 1024
#: Events about an assessment that ended (the task reads its report or error at resume).
_CARRIED_REASONS = frozenset({"completed", "failed", "cancelled"})
#: What ``serialize()`` holds: ids and settings, never a secret.
_KWARGS = (
    "assessment_id",
    "modelred_conn_id",
    "api_generation",
    "poll_interval",
    "deadline",
    "retry_budget",
    "cancel_on_kill",
)


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
        self.poll_interval = check_positive(poll_interval, "poll_interval")
        self.deadline = check_positive(deadline, "deadline", allow_none=True)
        self.retry_budget = int(retry_budget)
        self.cancel_on_kill = bool(cancel_on_kill)
        self._hook: ModelRedHook | None = None
        #: The server's object of the last own GET, when small enough: what the event carries when that
        #: read ended the wait (a group's list that tells the end clears it).
        self._final: dict[str, Any] | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.{type(self).__qualname__}", {k: getattr(self, k) for k in _KWARGS}

    def _new_hook(self) -> ModelRedHook:
        from modelred_provider.hooks.modelred import ModelRedHook

        return ModelRedHook(modelred_conn_id=self.modelred_conn_id)

    # ------------------------------------------------------------------ standalone: one GET per poll
    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Standalone (``dag.test()``, or a triggerer that does not share): this trigger's own GETs."""
        async for event in self.filter_shared_stream(None):
            yield event

    # ------------------------------------------------------------------ shared: one poll per group
    def shared_stream_key(self) -> Hashable | None:
        """Group triggers of one connection, generation and poll interval; None below 1 s or if turned off."""
        return shared.stream_key(self.modelred_conn_id, self.api_generation, self.poll_interval)

    @classmethod
    async def open_shared_stream(cls, kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        """Run once per group by the triggerer: one round per interval (:mod:`..triggers.shared`)."""
        async for item in shared.open_stream(kwargs):
            yield item

    async def filter_shared_stream(
        self, shared_stream: AsyncIterator[Any] | None
    ) -> AsyncIterator[TriggerEvent]:
        """Yield this trigger's one event, from what the group's rounds hand it (its own GET when asked).

        The one wait of both paths: ``run()`` passes no stream (its own GETs only).
        """
        self._hook = hook = self._new_hook()
        try:
            async with hook:
                payload = await self._wait(hook, shared_stream)
                await self._carry_assessment(hook, payload)
        except Exception as error:  # the connection is missing or unusable: one error event, not a crash
            payload = make_event(
                TerminationReason.ERROR,
                self.assessment_id,
                f"Cannot poll {self.assessment_id} via connection {self.modelred_conn_id!r}: {error}",
            )
        self.log.info("ModelRed assessment %s: %s", self.assessment_id, payload["message"])
        yield TriggerEvent(payload)

    async def _carry_assessment(self, hook: ModelRedHook, payload: dict[str, Any]) -> None:
        """Attach an assessment that ended (COMPLETED, FAILED, CANCELLED) to the event as the server sent it.

        Report included, when the answer is at most :data:`EVENT_ASSESSMENT_MAX_BYTES`, so the task
        resumes without a GET. Larger, or unreadable now: no ``assessment`` key, and the task reads it at
        resume as before. The last own GET read it already (``_fetch_own``); when a group's list told the end
        instead, one more GET, sent once.
        """
        if payload.get("reason") not in _CARRIED_REASONS:
            return
        carried, self._final = self._final, None
        if carried is None:
            try:
                _, carried = await hook.aget_assessment_within(
                    self.assessment_id,
                    ApiGeneration(self.api_generation),
                    max_bytes=EVENT_ASSESSMENT_MAX_BYTES,
                    deadline=time.time() + self.poll_interval + 5,
                    retry=False,
                )
            except Exception as error:
                self.log.info("Assessment %s is read at resume instead (%s)", self.assessment_id, error)
                return
        if carried is not None:
            payload["assessment"] = carried

    async def _wait(self, hook: ModelRedHook, stream: AsyncIterator[Any] | None) -> dict[str, Any]:
        """Poll until the policy ends the wait; returns the event's payload.

        In a group while its stream lasts; standalone, or once that stream broke, the one wait loop
        (``waiting.loop.poll_until_done``, as in-process waits run it) over this trigger's own GETs,
        ``step.delay`` apart: the first at once, or when the check the policy set in the group is due.
        """
        policy = PollPolicy(
            self.assessment_id,
            poll_interval=self.poll_interval,
            deadline=self.deadline,
            retry_budget=self.retry_budget,
        )
        policy.max_wait = (await hook.asettings()).poll_max_wait
        delay = 0.0
        key = shared.group_key(self.modelred_conn_id, self.api_generation, self.poll_interval)
        if stream is not None and key is not None:
            ended = await self._wait_in_group(hook, policy, stream, key)
            if isinstance(ended, dict):
                return ended
            delay = ended
        return await poll_until_done(policy, lambda: self._fetch_own(hook), self.log, delay=delay)

    async def _wait_in_group(
        self, hook: ModelRedHook, policy: PollPolicy, stream: AsyncIterator[Any], key: Hashable
    ) -> dict[str, Any] | float:
        """In a group: sleep until the group's round hands this trigger news, or the deadline.

        News: its assessment changed, or the round could not see it (then one own GET at a paced slot).

        The first check is the group's next round (within one interval): a thousand triggers taken up
        at once send no GET each. After a failed own GET the policy's backoff holds: no GET before it
        is due. A broken stream (the group's loop ended) returns the seconds until that GET is due, and
        this trigger goes on alone.
        """
        loop = asyncio.get_running_loop()
        group, sub = shared.join(key, self.assessment_id, self.poll_interval)

        def listen() -> asyncio.Future[Any]:  # the group yields nothing: the stream's end wakes ``sub``
            reader = asyncio.ensure_future(anext(stream))
            reader.add_done_callback(lambda _: sub.wake())
            return reader

        reader = listen()
        read_due: float | None = None  # an own GET is due at this time (None: listening to the rounds)
        backoff_until = 0.0
        try:
            while True:
                news = sub.take()
                if news is None and not reader.done() and (read_due is None or read_due > loop.time()):
                    news = await self._sleep_until_news(sub, read_due)
                if reader.done():
                    if reader.cancelled() or reader.exception() is not None:
                        self.log.warning(
                            "Shared assessment list ended (%s); polling alone",
                            "cancelled" if reader.cancelled() else reader.exception(),
                        )
                        return max(0.0, backoff_until - loop.time())
                    reader = listen()
                if isinstance(news, Assessment):
                    self._final = None  # the list told it: the event's object is read at the end
                    sub.saw(news)
                    step = policy.observe(news, self.log)
                elif news == shared.READ_YOURSELF or read_due is not None or self._past_deadline():
                    due = max(backoff_until, loop.time() if read_due is None else read_due)
                    if due > loop.time():
                        read_due = due
                        continue
                    await group.pace()
                    step = await self._read(hook, policy, sub)
                else:
                    continue
                read_due = None
                if step.event is not None:
                    return step.event
                if policy.failures:  # a failed read: the policy's backoff, then an own GET
                    backoff_until = read_due = loop.time() + step.delay
                else:
                    backoff_until = 0.0
        finally:
            reader.cancel()
            shared.leave(key, sub)

    async def _sleep_until_news(self, sub: shared.Subscription, read_due: float | None) -> Any:
        """Sleep until news, an own GET's time or the deadline; return the news (None if none).

        The group wakes ``sub`` with news, or when the stream's reader ended; ``read_due`` is loop time.
        """
        loop = asyncio.get_running_loop()
        wake_at = read_due
        if self.deadline is not None:
            at_deadline = loop.time() + self.deadline - time.time()
            wake_at = at_deadline if wake_at is None else min(wake_at, at_deadline)
        sub.waiter = waiter = loop.create_future()
        timer = None if wake_at is None else loop.call_at(wake_at, sub.wake)
        try:
            await waiter
        finally:
            sub.waiter = None
            if timer is not None:
                timer.cancel()
        return sub.take()

    def _past_deadline(self) -> bool:
        return self.deadline is not None and time.time() >= self.deadline

    async def _fetch_own(self, hook: ModelRedHook) -> Assessment:
        """Read the assessment with this trigger's own GET, bounded.

        A report larger than :data:`EVENT_ASSESSMENT_MAX_BYTES` is not read (the answer is read again
        without it). Keeps the server's object of this read, which the final event carries when this
        read ended the wait.
        """
        self._final = None
        assessment, self._final = await hook.aget_assessment_within(
            self.assessment_id,
            api_generation=ApiGeneration(self.api_generation),
            max_bytes=EVENT_ASSESSMENT_MAX_BYTES,
            deadline=self.deadline,
        )
        return assessment

    async def _read(self, hook: ModelRedHook, policy: PollPolicy, sub: shared.Subscription) -> Step:
        """Read with this grouped trigger's own GET (:meth:`_fetch_own`), fed to the policy's helpers."""
        try:
            assessment = await self._fetch_own(hook)
        except Exception as error:  # CancelledError is a BaseException: it passes through
            return policy.failed(error, self.log)
        sub.saw(assessment)
        return policy.observe(assessment, self.log)

    async def cleanup(self) -> None:
        """Release the HTTP client only; never touches the assessment."""
        hook, self._hook = self._hook, None
        if hook is not None:
            await hook.aclose()

    async def on_kill(self) -> None:
        """Cancel the assessment, best effort, never raising: a user acted on the deferred task."""
        if not self.cancel_on_kill:
            return
        try:
            async with self._new_hook() as hook:
                cancel = hook.acancel_assessment(self.assessment_id, ApiGeneration(self.api_generation))
                await asyncio.wait_for(cancel, _CANCEL_TIMEOUT)
            self.log.info("Cancelled ModelRed assessment %s", self.assessment_id)
        except ModelRedNotAllowedForApiKeyError as error:
            self.log.warning(
                "An API key may not cancel assessment %s: cancel it in the ModelRed UI (%s)",
                self.assessment_id,
                error,
            )
        except Exception as error:
            self.log.warning("Could not cancel ModelRed assessment %s: %s", self.assessment_id, error)
