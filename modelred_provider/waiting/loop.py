"""The one wait loop: pause as the policy says, read, let the policy decide, until it ends the wait.

Every wait on an assessment runs it: the trigger's own polls on the triggerer's event loop, and in-process
waits (``ModelRedHook.wait_until_done``: the operator's ``deferrable=False`` path and
``hook.wait_for_assessment``), which run it with :func:`run_to_completion` and read through the sync transport
in a worker thread.

The I/O comes in as ``read``; the pause, the budget and the deadline are :class:`PollPolicy`'s. No
Airflow here.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from modelred_provider.api.models import Assessment
    from modelred_provider.waiting.policy import PollPolicy

__all__ = ["poll_until_done", "run_to_completion", "threaded"]

_T = TypeVar("_T")


async def poll_until_done(
    policy: PollPolicy,
    read: Callable[[], Awaitable[Assessment]],
    log: Any,
    *,
    delay: float = 0.0,
) -> dict[str, Any]:
    """Sleep ``delay``, ``read``, feed the result to ``policy``; repeat until it ends the wait.

    Each pause is the one the policy sets; returns its final event (``outcome.make_event``). Never raises
    for the assessment's or the API's sake (the policy turns failures into an ``error`` event within its
    budget); cancellation passes through.
    """
    while True:
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            current = await read()
        except Exception as error:  # CancelledError is a BaseException: it passes through
            step = policy.failed(error, log)
        else:
            step = policy.observe(current, log)
        if step.event is not None:
            return step.event
        delay = step.delay


def threaded(call: Callable[[], _T], executor: ThreadPoolExecutor) -> Callable[[], Awaitable[_T]]:
    """``call`` (blocking) as an awaitable read, run on ``executor``."""

    def read() -> Awaitable[_T]:
        return asyncio.get_running_loop().run_in_executor(executor, call)

    return read


def run_to_completion(make: Callable[[ThreadPoolExecutor], Coroutine[Any, Any, _T]]) -> _T:
    """Run the coroutine ``make(executor)`` to its end from sync code, with a worker thread for reads.

    Never waits for an abandoned read: an interrupt (a task's timeout, a kill) leaves at once, and the read
    ends by its own request timeout. Inside a running event loop (a notebook, async code calling a sync API),
    the coroutine runs on a fresh loop in a thread of its own.
    """
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="modelred-wait")
    try:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(make(executor))
        outcome: Future[_T] = Future()

        def runner() -> None:
            try:
                outcome.set_result(asyncio.run(make(executor)))
            except BaseException as error:
                outcome.set_exception(error)

        threading.Thread(target=runner, name="modelred-wait-loop", daemon=True).start()
        return outcome.result()
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
