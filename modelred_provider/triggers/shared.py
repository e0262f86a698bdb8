"""One list request per poll interval for all ModelRed triggers of a connection (Airflow 3.3 shared streams).

When the triggerer groups triggers by ``shared_stream_key`` it runs :func:`open_stream` once per group:
every ``poll_interval`` it lists the newest assessments and broadcasts a :class:`Snapshot` (or a failed
one) to each trigger of the group. Each trigger takes its own assessment from the snapshot; when it
is not there (the list was capped by the server, the assessment is older than the listed window, or
the list failed) the trigger sends its own ``GET``, so it always gets its event.

What the contract lets a list do, and how it is used (``docs/modelred-api.md``, sections 1.2 and 2.2):

* resources API: ``GET /api/assessments?limit=N``, newest first, no status filter. One request with
  ``limit`` sized to the group (waiting triggers + :data:`LIST_MARGIN`, at most :data:`MAX_LIST_LIMIT`).
* v2: ``GET /api/v2/assessments`` paged (``pageSize`` :data:`V2_PAGE_SIZE`, status ``all``), newest
  first; pages are read until every waiting assessment was seen, the last page, or enough pages for the
  group (at most :data:`MAX_V2_PAGES`).

The list is GET-only, sent once per interval (a ``Retry-After`` of a failed list delays the next one),
never retried within the interval (its subscribers fall back to their own GETs instead), and parsed
with the one assessment parser, in slices that hand the loop back between them. The loop holds one
transport on the shared session pool of the connection and releases it when the group ends.
"""

from __future__ import annotations

import asyncio
import math
import weakref
from collections import Counter
from collections.abc import AsyncIterator, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow.utils.log.logging_mixin import LoggingMixin

from modelred_provider.api import endpoints, parsing
from modelred_provider.api.models import ApiGeneration, Assessment

#: Listed beyond the waiting triggers (assessments launched by others push ours down the list).
LIST_MARGIN = 20
#: The largest ``limit`` asked of the resources list (a bigger group falls back for the rest).
MAX_LIST_LIMIT = 1000
V2_PAGE_SIZE = 100
MAX_V2_PAGES = 10
#: Items parsed between two hand-backs to the event loop.
PARSE_SLICE = 200
#: Triggers polling faster than this do not share (their own GETs are as cheap, and a subscriber
#: blocked in a long own GET must not let the group's broadcast queue fill up).
MIN_SHARED_INTERVAL = 1.0

_log = LoggingMixin().log


@dataclass(frozen=True)
class Snapshot:
    """One shared list: the listed assessments by id; ``failed`` when the list could not be read."""

    assessments: Mapping[str, Assessment] = field(default_factory=dict)
    failed: bool = False

    def get(self, assessment_id: str) -> Assessment | None:
        return self.assessments.get(assessment_id)


def stream_key(modelred_conn_id: str, api_generation: str, poll_interval: float) -> Hashable | None:
    """The group of a trigger: one connection, API generation and poll interval (None: do not share)."""
    if poll_interval < MIN_SHARED_INTERVAL:
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


def waiting_ids(key: Hashable) -> set[str]:
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


async def _parse(
    items: list[dict[str, Any]], generation: ApiGeneration, operation: str
) -> dict[str, Assessment]:
    found: dict[str, Assessment] = {}
    for start in range(0, len(items), PARSE_SLICE):
        if start:
            await asyncio.sleep(0)  # a long answer must not hold the loop in one go
        for item in items[start : start + PARSE_SLICE]:
            assessment = parsing.parse_assessment(item, generation, operation)
            found[assessment.id] = assessment
    return found


async def list_snapshot(transport: Any, generation: ApiGeneration, waiting: set[str]) -> Snapshot:
    """List the newest assessments once (resources: one request; v2: the pages the group needs)."""
    wanted = len(waiting) + LIST_MARGIN
    if generation is ApiGeneration.RESOURCES:
        spec = endpoints.list_assessments(generation, limit=min(MAX_LIST_LIMIT, wanted))
        payload = await transport.call(spec, should_retry=_never)
        items = parsing.unwrap_list(payload, "assessments", spec.operation)
        return Snapshot(await _parse(items, generation, spec.operation))
    found: dict[str, Assessment] = {}
    pages = min(MAX_V2_PAGES, math.ceil(wanted / V2_PAGE_SIZE))
    for page in range(1, pages + 1):
        spec = endpoints.list_assessments(generation, page=page, page_size=V2_PAGE_SIZE)
        payload = await transport.call(spec, should_retry=_never)
        found.update(
            await _parse(
                parsing.unwrap_list(payload, "assessments", spec.operation), generation, spec.operation
            )
        )
        if page >= parsing.total_pages(payload) or waiting <= found.keys():
            break
    return Snapshot(found)


def _never(error: BaseException) -> bool:
    return False


async def open_stream(kwargs: dict[str, Any]) -> AsyncIterator[Snapshot]:
    """The group's loop: a snapshot every ``poll_interval``, forever (ends only when cancelled)."""
    from modelred_provider.hooks._transport_async import AsyncTransport
    from modelred_provider.hooks.modelred import ModelRedHook

    key = stream_key(kwargs["modelred_conn_id"], kwargs["api_generation"], float(kwargs["poll_interval"]))
    generation = ApiGeneration(kwargs["api_generation"])
    interval = float(kwargs["poll_interval"])
    hook = ModelRedHook(modelred_conn_id=kwargs["modelred_conn_id"])
    transport: AsyncTransport | None = None
    try:
        while True:
            delay = interval
            try:
                if transport is None:
                    transport = AsyncTransport(await hook.asettings(), _log)
                snapshot = await list_snapshot(transport, generation, waiting_ids(key))
            except Exception as error:  # CancelledError passes: the group ended
                _log.warning("Shared ModelRed assessment list failed; each trigger reads its own: %s", error)
                snapshot = Snapshot(failed=True)
                retry_after = getattr(error, "retry_after", None)
                if retry_after:
                    delay = max(delay, float(retry_after))
            yield snapshot
            await asyncio.sleep(delay)
    finally:
        if transport is not None:
            await transport.aclose()
