"""One poll per interval for all ModelRed triggers of a connection (Airflow 3.3 shared streams).

When the triggerer groups triggers by ``shared_stream_key`` it runs :func:`open_stream` once per group.
That loop does not broadcast: every ``poll_interval`` it runs one *round* and tells each trigger of the
group only what concerns it, waking only the triggers whose assessment changed:

* a listed assessment whose status or progress differs from what its trigger last saw: the trigger is
  handed the assessment (no request of its own);
* an assessment the round cannot see (not listed, or the list failed): the trigger is told to read it
  itself, and reads it with its own ``GET`` at a slot the group paces (:meth:`Group.pace`): a few at
  once, then at most one per waiting trigger per interval, spread over the interval, never a burst
  of the whole group (a failed list, a triggerer restart);
* anything else (listed, unchanged): nothing; the trigger sleeps on.

What the contract lets a round list (``docs/modelred-api.md``, sections 1.2 and 2.2), and so what a
round costs:

* v2: ``GET /api/v2/assessments?status=QUEUED`` and ``?status=RUNNING``, every page
  (``pageSize`` ``endpoints.V2_PAGE_SIZE``): only the unfinished assessments, however many finished
  ones there are. A waiting assessment missing from both lists has left them (it finished), and only
  that trigger sends a ``GET`` (which also reads a status the lists missed while pages shifted). The
  requests per round are bounded by the unfinished assessments of the organisation / 100, not by the
  number of triggers.
* resources API: ``GET /api/assessments?limit=N``, newest first, every status, no filter and no
  paging. One request per round, ``limit`` sized to reach the oldest waiting assessment (when a full
  list missed waiting ones, the round lists again twice as deep, up to three times and
  :data:`MAX_LIST_LIMIT`, and the next round starts there) and shrinks back; a waiting
  assessment older than that window is read by its trigger's own ``GET`` every interval. Its cost
  grows with how deep the oldest waiting assessment sits in the organisation's history, finished
  ones included: with many newer assessments nobody waits on, v2 is the cheaper API to wait on.

The list goes through the hook's public async lists: GET-only, never retried within the interval
(``retry=False``: the triggers read their own instead), reports unread (``report=False``), parsed in
slices that hand the loop back. A ``Retry-After`` of a failed list delays the next round.

``[modelred] shared_stream = False`` (Airflow configuration) turns grouping off: :func:`stream_key`
then returns None and every trigger polls with its own GETs (``run()``), with the same events.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Hashable
from typing import TYPE_CHECKING, Any

from airflow.utils.log.logging_mixin import LoggingMixin

from modelred_provider.api.vocabulary import ApiGeneration

if TYPE_CHECKING:
    from modelred_provider.api.models import Assessment
    from modelred_provider.hooks.modelred import ModelRedHook

__all__ = [
    "LIST_MARGIN",
    "MAX_LIST_LIMIT",
    "READ_YOURSELF",
    "Group",
    "Subscription",
    "group_key",
    "join",
    "leave",
    "open_stream",
    "stream_key",
]

#: Listed beyond the deepest waiting assessment (resources API: newer assessments push ours down).
LIST_MARGIN = 20
#: The largest ``limit`` a resources-API round asks; waiting assessments deeper than this are read
#: by their triggers' own GETs.
MAX_LIST_LIMIT = 25_000
#: Lists a resources-API round may add, each twice as deep, when waiting assessments were not listed.
_MAX_DEEPER = 3
#: What a trigger is handed when the round could not see its assessment: read it yourself.
READ_YOURSELF = "read"
#: Triggers polling faster than this do not share (their own GETs are as cheap).
_MIN_SHARED_INTERVAL = 1.0
#: Own GETs a group may send at once (a share of its triggers, at least ``_MIN_BURST``); past that they
#: are spread at ``waiting / interval`` per second.
_BURST_SHARE = 0.05
_MIN_BURST = 20
#: How often a group without triggers (only between its start and its first trigger) looks again.
_IDLE_CHECK = 0.05

_log = LoggingMixin().log


def stream_key(modelred_conn_id: str, api_generation: str, poll_interval: float) -> Hashable | None:
    """Return the group of a trigger (None: do not share).

    ``[modelred] shared_stream`` (default True; env ``AIRFLOW__MODELRED__SHARED_STREAM``) is read each time
    the triggerer asks a trigger for its key: False turns grouping off, every trigger polls alone.
    """
    from airflow.configuration import conf

    if not conf.getboolean("modelred", "shared_stream", fallback=True):
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


class Subscription:
    """One trigger's place in its group: what it last saw, and the news the group left for it."""

    __slots__ = ("assessment_id", "news", "seen", "waiter")

    def __init__(self, assessment_id: str) -> None:
        self.assessment_id = assessment_id
        #: (status, progress) the trigger last observed; None before its first read.
        self.seen: tuple[Any, int] | None = None
        #: An :class:`Assessment`, :data:`READ_YOURSELF`, or None (nothing new).
        self.news: Assessment | str | None = None
        #: The future the trigger sleeps on (set by :meth:`post` or :meth:`wake`).
        self.waiter: asyncio.Future[None] | None = None

    def saw(self, assessment: Assessment) -> None:
        self.seen = (assessment.status, assessment.progress)

    def post(self, news: Assessment | str) -> None:
        self.news = news
        self.wake()

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def take(self) -> Assessment | str | None:
        news, self.news = self.news, None
        return news


class Group:
    """The triggers of one group key in one event loop, and the state of its rounds."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.subscriptions: dict[str, list[Subscription]] = {}
        #: How many triggers wait in the group (several may wait on one assessment).
        self.size = 0
        #: resources API: the ``limit`` of the next round (adapted to the deepest waiting assessment).
        self.limit = 0
        self._tokens = float(_MIN_BURST)
        self._refilled = 0.0

    async def pace(self) -> None:
        """Wait for this trigger's slot for its own GET.

        A token bucket refilled at ``waiting / interval`` per second (at most one own GET per waiting
        trigger per interval, spread out), with a burst of :data:`_BURST_SHARE` of the group (at least
        :data:`_MIN_BURST`) so that the few reads of an ordinary round (assessments that just ended) go
        at once.
        """
        loop = asyncio.get_running_loop()
        now = loop.time()
        rate = max(1, self.size) / self.interval
        burst = max(_MIN_BURST, self.size * _BURST_SHARE)
        self._tokens = min(burst, self._tokens + (now - self._refilled) * rate)
        self._refilled = now
        self._tokens -= 1
        if self._tokens < 0:
            await asyncio.sleep(-self._tokens / rate)

    def hand_out(self, listed: dict[str, Assessment] | None) -> tuple[int, int]:
        """Tell each trigger what concerns it (``listed`` None: the list failed). (woken, to read)."""
        woken = unseen = 0
        for assessment_id, subs in self.subscriptions.items():
            found = None if listed is None else listed.get(assessment_id)
            for sub in subs:
                if found is None:
                    unseen += 1
                    sub.post(READ_YOURSELF)
                elif sub.seen != (found.status, found.progress):
                    woken += 1
                    sub.post(found)
        return woken, unseen


# event loop -> group key -> Group
_GROUPS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, Group]] = (
    weakref.WeakKeyDictionary()
)


def _group(key: Hashable, interval: float) -> Group:
    per_loop = _GROUPS.setdefault(asyncio.get_running_loop(), {})
    group = per_loop.get(key)
    if group is None:
        group = per_loop[key] = Group(interval)
    return group


def join(key: Hashable, assessment_id: str, interval: float) -> tuple[Group, Subscription]:
    """Subscribe a trigger of group ``key`` to ``assessment_id``."""
    group = _group(key, interval)
    sub = Subscription(assessment_id)
    group.subscriptions.setdefault(assessment_id, []).append(sub)
    group.size += 1
    return group, sub


def leave(key: Hashable, sub: Subscription) -> None:
    per_loop = _GROUPS.get(asyncio.get_running_loop(), {})
    group = per_loop.get(key)
    if group is None:
        return
    subs = group.subscriptions.get(sub.assessment_id, [])
    if sub in subs:
        subs.remove(sub)
        group.size -= 1
    if not subs:
        group.subscriptions.pop(sub.assessment_id, None)
    if not group.subscriptions:
        del per_loop[key]


async def _round(hook: ModelRedHook, generation: ApiGeneration, group: Group) -> dict[str, Assessment]:
    """One round's list: v2 every page of the unfinished assessments; resources the newest ``limit``."""
    if generation is ApiGeneration.V2:
        return {a.id: a for a in await hook.alist_unfinished_assessments(report=False, retry=False)}
    waiting = set(group.subscriptions)
    limit = min(MAX_LIST_LIMIT, max(group.limit, len(waiting) + LIST_MARGIN))
    for deeper in range(_MAX_DEEPER + 1):
        answer = await hook.alist_assessments(
            limit=limit, api_generation=generation, report=False, retry=False, until_listed=waiting
        )
        listed = {a.id: a for a in answer}
        missing = len(answer) >= limit and not waiting <= listed.keys()
        if not missing or limit >= MAX_LIST_LIMIT or deeper == _MAX_DEEPER:
            break
        # Some waiting ones are deeper (newer assessments nobody waits on pushed them down): list deeper
        # now, one request, rather than sending each of them to its own GET.
        limit = min(MAX_LIST_LIMIT, limit * 2)
    depth = max((position for position, a in enumerate(answer, 1) if a.id in waiting), default=0)
    # Next round: just past the deepest waiting one (new ones push it down), or deeper still.
    group.limit = min(MAX_LIST_LIMIT, limit * 2) if missing else depth + LIST_MARGIN
    return listed


async def open_stream(kwargs: dict[str, Any]) -> AsyncIterator[Any]:
    """Run the group's loop: one round per ``poll_interval``, forever (ends only when cancelled).

    It yields nothing: the triggerer's broadcast would wake every trigger of the group, where a round
    wakes only those its answer concerns (:meth:`Group.hand_out`). Its subscribers still hold the
    broadcast stream, so a loop that dies reaches each of them (and :meth:`Group.hand_out` as well).
    """
    from modelred_provider.hooks.modelred import ModelRedHook

    interval = float(kwargs["poll_interval"])
    key = group_key(kwargs["modelred_conn_id"], kwargs["api_generation"], interval)
    generation = ApiGeneration(kwargs["api_generation"])
    hook = ModelRedHook(modelred_conn_id=kwargs["modelred_conn_id"])
    loop = asyncio.get_running_loop()
    try:
        start = loop.time()
        while True:
            group = _group(key, interval)
            if not group.subscriptions:
                # The group's first trigger joins just after the triggerer starts this loop: run the
                # first round as soon as it has, not an interval later.
                await asyncio.sleep(_IDLE_CHECK)
                start = loop.time()
                continue
            delay = 0.0
            listed: dict[str, Assessment] | None
            try:
                listed = await _round(hook, generation, group)
            except Exception as error:  # CancelledError passes: the group ended
                _log.warning("Shared ModelRed assessment list failed; each trigger reads its own: %s", error)
                listed = None
                delay = float(getattr(error, "retry_after", None) or 0.0)
            group.hand_out(listed)
            # The next round one interval after this one started (at once when a round took longer).
            start = max(start + interval, loop.time() + delay)
            await asyncio.sleep(max(0.0, start - loop.time()))
        if False:  # pragma: no cover - an async generator that never yields
            yield None
    except asyncio.CancelledError:
        raise
    except BaseException:
        # The loop ended on its own: every trigger reads its own from now on (as after a failed list).
        ended = _GROUPS.get(loop, {}).get(key)
        if ended is not None:
            ended.hand_out(None)
        raise
    finally:
        await hook.aclose()
