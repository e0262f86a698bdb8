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
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from modelred_provider.api.models import ApiGeneration
from modelred_provider.outcome import TerminationReason, make_event
from modelred_provider.polling import DEFAULT_RETRY_BUDGET, PollPolicy

if TYPE_CHECKING:
    from modelred_provider.hooks.modelred import ModelRedHook

#: Upper bound for the best-effort cancel in ``on_kill`` (seconds).
CANCEL_TIMEOUT = 30.0


class ModelRedAssessmentTrigger(BaseTrigger):
    """Poll ``GET /assessments/{id}`` until the assessment ends or ``deadline`` (epoch seconds) passes.

    :param assessment_id: the assessment to wait for.
    :param modelred_conn_id: the ModelRed connection (its API key is read on the triggerer).
    :param api_generation: ``"resources"`` or ``"v2"``.
    :param poll_interval: seconds between two polls.
    :param deadline: absolute epoch seconds after which the wait ends with ``reason="timeout"``.
    :param retry_budget: transient failures tolerated in a row before ending with ``reason="error"``.
    :param cancel_on_kill: whether ``on_kill`` cancels the assessment (the operator owns it: True;
        the sensor only watches it: False).
    """

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
        self.poll_interval = float(poll_interval)
        self.deadline = None if deadline is None else float(deadline)
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

    async def run(self) -> AsyncIterator[TriggerEvent]:
        self._hook = hook = self._new_hook()
        try:
            async with hook:
                payload = await self._wait(hook)
        except Exception as error:  # the connection is missing or unusable: one error event, not a crash
            payload = make_event(
                TerminationReason.ERROR,
                self.assessment_id,
                f"Cannot poll {self.assessment_id} via connection {self.modelred_conn_id!r}: {error}",
            )
        self.log.info("ModelRed assessment %s: %s", self.assessment_id, payload["message"])
        yield TriggerEvent(payload)

    async def _wait(self, hook: ModelRedHook) -> dict[str, Any]:
        policy = PollPolicy(
            self.assessment_id,
            poll_interval=self.poll_interval,
            deadline=self.deadline,
            retry_budget=self.retry_budget,
        )
        generation = ApiGeneration(self.api_generation)
        last_progress: int | None = None
        while True:
            try:
                assessment = await hook.aget_assessment(self.assessment_id, api_generation=generation)
            except Exception as error:  # CancelledError is a BaseException: it passes through
                step = policy.on_error(error)
                self.log.warning(
                    "Polling assessment %s failed (%d in a row): %s",
                    self.assessment_id,
                    policy.failures,
                    error,
                )
            else:
                step = policy.on_assessment(assessment)
                if assessment.progress != last_progress:
                    last_progress = assessment.progress
                    self.log.info(
                        "Assessment %s: %s, %d%%",
                        self.assessment_id,
                        assessment.status.value,
                        assessment.progress,
                    )
            if step.event is not None:
                return step.event
            await asyncio.sleep(step.delay)

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
                    CANCEL_TIMEOUT,
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
