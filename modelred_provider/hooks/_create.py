"""Creating an assessment without ever leaving two for one call.

A POST is resent only when the server cannot have processed it (see ``api.retry.is_safe_to_resend``).
After an *ambiguous* failure (timeout after sending, 502/504, an unreadable 2xx) the hook lists recent
assessments (newest first) and adopts the one the attempt may have created: same model, same probe
keys / probe packs, created after the call started, and not among the assessments that existed before
the first POST (the hook lists them once before sending: one cheap GET per call, so an identical
assessment launched a moment earlier by someone else is never mistaken for ours, whatever the clocks
say). Only when none is found is the POST sent again. Each decision is logged.

The same state survives the process as a *launch intent* (:meth:`CreateAttempts.intent`, a plain JSON
dict the operator keeps in Airflow's task state store before every POST): a later try whose worker
never learned the answer rebuilds it (:meth:`CreateAttempts.from_intent`) and runs the same lookup,
with the same matching rule (:meth:`CreateAttempts.matches`), before launching anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from modelred_provider.api import endpoints
from modelred_provider.api.errors import ModelRedConfigurationError
from modelred_provider.api.vocabulary import ApiGeneration

if TYPE_CHECKING:
    from modelred_provider.api.endpoints import RequestSpec
    from modelred_provider.api.models import Assessment

#: Tolerated difference between our clock and the server's when comparing creation times.
CLOCK_SKEW = timedelta(seconds=2)
#: How many recent assessments to look through.
LOOKUP_LIMIT = 20
#: A later try's lookup widens its listing up to this many, until it reaches assessments created
#: before the launch (a busy organisation may have launched many since).
LOOKUP_MAX = 500
#: Version of the launch intent's shape (a stored intent of another version is not trusted).
INTENT_VERSION = 1


@dataclass
class CreateAttempts:
    """State of one ``create_assessment`` call across its attempts."""

    spec: RequestSpec
    started_at: datetime
    model_refs: set[str] = field(default_factory=set)
    ambiguous: bool = False
    #: Ids listed before the first POST (None: the listing failed; then only times and fields decide).
    known_ids: frozenset[str] | None = None

    @property
    def by_packs(self) -> bool:
        return "probePackIds" in (self.spec.json or {})

    @property
    def requested(self) -> frozenset[str]:
        body = self.spec.json or {}
        return frozenset(body.get("probePackIds" if self.by_packs else "testTypes") or ())

    def matches(self, assessment: Assessment) -> bool:
        """Whether ``assessment`` may be the one an earlier attempt of this call created."""
        if self.known_ids is not None and assessment.id in self.known_ids:
            return False
        if assessment.created_at is None:
            return self.known_ids is not None
        if not self._after_start(assessment.created_at):
            return False
        if assessment.model_id is not None and assessment.model_id not in self.model_refs:
            return False
        listed = assessment.probe_pack_ids if self.by_packs else assessment.test_types
        return not listed or frozenset(listed) == self.requested

    def find(self, recent: Iterable[Assessment]) -> Assessment | None:
        return next((assessment for assessment in recent if self.matches(assessment)), None)  # newest first

    def _after_start(self, created: datetime) -> bool:
        """Whether ``created`` (naive: our clock's zone) is after this call started, less the clock skew."""
        return (
            created.replace(tzinfo=created.tzinfo or self.started_at.tzinfo) >= self.started_at - CLOCK_SKEW
        )

    # --- the launch intent: this state as a plain JSON dict, for a later try ---------------------

    def intent(self, token: str, sent_at: datetime, in_flight_until: datetime) -> dict[str, Any]:
        """Return what a later try needs to find what this call's POSTs made (no secret: ids, names, times).

        ``sent_at``: when the POST about to be sent leaves; ``in_flight_until``: when it has been answered
        or given up on (sent_at + the request timeout), after which the server no longer processes it.
        """
        body = self.spec.json or {}
        return {
            "version": INTENT_VERSION,
            "token": token,
            "model": str(body.get("model", "")),
            "api_generation": self.spec.api_generation.value,
            "priority": str(body.get("priority", "normal")),
            "started_at": self.started_at.isoformat(),
            "sent_at": sent_at.isoformat(),
            "in_flight_until": in_flight_until.isoformat(),
            "known_ids": None if self.known_ids is None else sorted(self.known_ids),
            "probe_pack_ids" if self.by_packs else "test_types": sorted(self.requested),
        }

    @classmethod
    def from_intent(cls, intent: dict[str, Any]) -> CreateAttempts:
        """Rebuild the state of the call that wrote ``intent`` (ValueError if it is not a readable intent)."""
        if not isinstance(intent, dict) or intent.get("version") != INTENT_VERSION:
            raise ValueError(f"not a launch intent of version {INTENT_VERSION}")
        try:
            spec = endpoints.create_assessment(
                str(intent["model"]),
                test_types=intent.get("test_types"),
                probe_pack_ids=intent.get("probe_pack_ids"),
                priority=str(intent.get("priority", "normal")),
            )
            started_at = parse_time(intent["started_at"])
            if spec.api_generation is not ApiGeneration(intent["api_generation"]):
                raise ValueError("api_generation does not match the probe choice")
        except (KeyError, TypeError, ValueError, ModelRedConfigurationError) as err:
            raise ValueError(f"unreadable launch intent: {err}") from None
        known = intent.get("known_ids")
        return cls(
            spec,
            started_at,
            {spec.json["model"]} if spec.json else set(),
            known_ids=None if known is None else frozenset(str(i) for i in known),
        )

    def covers(self, listed: list[Assessment], asked: int) -> bool:
        """Whether a newest-first listing of ``asked`` reaches back before this call started."""
        if len(listed) < asked:
            return True  # the whole history was listed
        oldest = listed[-1].created_at
        return oldest is None or not self._after_start(oldest)  # None: cannot tell; do not page on for ever


def parse_time(value: Any) -> datetime:
    """Read an ISO-8601 time written by :meth:`CreateAttempts.intent` (naive means UTC)."""
    when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
