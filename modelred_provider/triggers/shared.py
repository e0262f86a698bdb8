"""One list request per poll interval for all ModelRed triggers of a connection (Airflow 3.3 shared streams).

When the triggerer groups triggers by ``shared_stream_key`` it runs :func:`open_stream` once per group:
every ``poll_interval`` it lists the newest assessments and broadcasts a :class:`Snapshot` (or a failed
one) to each trigger of the group. Each trigger takes its own assessment from the snapshot; when it
is not there (the list was capped by the server, the assessment is older than the listed window, or
the list failed) the trigger sends its own ``GET``, so it always gets its event.

What the contract lets a list do, and how it is used (``docs/modelred-api.md``, sections 1.2 and 2.2):

* resources API: ``GET /api/assessments?limit=N``, newest first, no status filter. One request with
  ``limit`` sized to the group (waiting triggers + :data:`LIST_MARGIN`, at most :data:`MAX_LIST_LIMIT`).
* v2: ``GET /api/v2/assessments`` paged (``pageSize`` ``endpoints.V2_PAGE_SIZE``, status ``all``),
  newest first; pages are read until every waiting assessment was seen, the last page, or enough
  pages for the group (at most :data:`MAX_LIST_LIMIT` items).

The list goes through the hook's public ``alist_assessments``: GET-only, sent once per interval (a
``Retry-After`` of a failed list delays the next one), never retried within the interval
(``retry=False``: its subscribers fall back to their own GETs instead), reports unread
(``report=False``), parsed with the one assessment parser in slices that hand the loop back between
them. The loop holds one hook (on the shared session pool of the connection) and closes it when the
group ends.

``[modelred] shared_stream = False`` (Airflow configuration) turns grouping off: :func:`stream_key`
then returns None and every trigger polls with its own GETs (``run()``), with the same events.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import Counter
from collections.abc import AsyncIterator, Hashable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow.utils.log.logging_mixin import LoggingMixin

from modelred_provider.api.models import Assessment
from modelred_provider.api.vocabulary import ApiGeneration

if TYPE_CHECKING:
    from modelred_provider.hooks.modelred import ModelRedHook

__all__ = [
    "LIST_MARGIN",
    "MAX_LIST_LIMIT",
    "Snapshot",
    "group_key",
    "open_stream",
    "register",
    "stream_key",
    "unregister",
]

#: Listed beyond the waiting triggers (assessments launched by others push ours down the list).
LIST_MARGIN = 20
#: The largest list asked (resources: ``limit``; v2: pages of ``endpoints.V2_PAGE_SIZE`` up to it); a
#: bigger group falls back to own GETs for the rest.
MAX_LIST_LIMIT = 1000
#: Triggers polling faster than this do not share (their own GETs are as cheap, and a subscriber
#: blocked in a long own GET must not let the group's broadcast queue fill up).
_MIN_SHARED_INTERVAL = 1.0

_log = LoggingMixin().log


@dataclass(frozen=True)
class Snapshot:
    """One shared list: the listed assessments by id; ``failed`` when the list could not be read."""

    assessments: Mapping[str, Assessment] = field(default_factory=dict)
    failed: bool = False

    def get(self, assessment_id: str) -> Assessment | None:
        return self.assessments.get(assessment_id)


def _enabled() -> bool:
    """``[modelred] shared_stream`` (default True; env ``AIRFLOW__MODELRED__SHARED_STREAM``), read when
    the triggerer asks a trigger for its key: False turns grouping off, every trigger polls alone."""
    from airflow.configuration import conf

    return conf.getboolean("modelred", "shared_stream", fallback=True)


def stream_key(modelred_conn_id: str, api_generation: str, poll_interval: float) -> Hashable | None:
    """The group of a trigger (None: do not share): off by ``[modelred] shared_stream = False``."""
    if not _enabled():
        return None
    return group_key(modelred_conn_id, api_generation, poll_interval)


def group_key(modelred_conn_id: str, api_generation: str, poll_interval: float) -> Hashable | None:
    """One connection, API generation and poll interval (None below :data:`_MIN_SHARED_INTERVAL`)."""
    if poll_interval < _MIN_SHARED_INTERVAL:
        return None
    return (
        "modelred-assessments",
        modelred_conn_id,
        ApiGeneration(api_generation).value,
        float(poll_interval),
    )


# event loop -> group key -> waiting assessment ids (a count: two triggers may wait on one assessment).
_WAITING: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, Counter[str]]] = (
    weakref.WeakKeyDictionary()
)


def _waiting_ids(key: Hashable) -> set[str]:
    """The assessments the triggers of group ``key`` wait for in the running loop."""
    return set(_WAITING.get(asyncio.get_running_loop(), {}).get(key, ()))


def register(key: Hashable, assessment_id: str) -> None:
    """A trigger of group ``key`` waits for ``assessment_id`` (sizes the shared list)."""
    per_loop = _WAITING.setdefault(asyncio.get_running_loop(), {})
    per_loop.setdefault(key, Counter())[assessment_id] += 1


def unregister(key: Hashable, assessment_id: str) -> None:
    per_loop = _WAITING.get(asyncio.get_running_loop(), {})
    waiting = per_loop.get(key)
    if waiting is None:
        return
    waiting[assessment_id] -= 1
    if waiting[assessment_id] <= 0:
        del waiting[assessment_id]
    if not waiting:
        del per_loop[key]


async def _list_snapshot(hook: ModelRedHook, generation: ApiGeneration, waiting: set[str]) -> Snapshot:
    """List the newest assessments once (resources: one request; v2: the pages the group needs), through
    the hook's public async list: no retry within the interval, no report read, parsed in slices."""
    listed = await hook.alist_assessments(
        limit=min(MAX_LIST_LIMIT, len(waiting) + LIST_MARGIN),
        api_generation=generation,
        report=False,
        retry=False,
        until_listed=waiting,
    )
    return Snapshot({assessment.id: assessment for assessment in listed})


async def open_stream(kwargs: dict[str, Any]) -> AsyncIterator[Snapshot]:
    """The group's loop: a snapshot every ``poll_interval``, forever (ends only when cancelled)."""
    from modelred_provider.hooks.modelred import ModelRedHook

    key = group_key(kwargs["modelred_conn_id"], kwargs["api_generation"], float(kwargs["poll_interval"]))
    generation = ApiGeneration(kwargs["api_generation"])
    interval = float(kwargs["poll_interval"])
    hook = ModelRedHook(modelred_conn_id=kwargs["modelred_conn_id"])
    try:
        while True:
            delay = interval
            try:
                snapshot = await _list_snapshot(hook, generation, _waiting_ids(key))
            except Exception as error:  # CancelledError passes: the group ended
                _log.warning("Shared ModelRed assessment list failed; each trigger reads its own: %s", error)
                snapshot = Snapshot(failed=True)
                retry_after = getattr(error, "retry_after", None)
                if retry_after:
                    delay = max(delay, float(retry_after))
            yield snapshot
            await asyncio.sleep(delay)
    finally:
        await hook.aclose()
