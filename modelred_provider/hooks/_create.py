"""Creating an assessment without ever leaving two for one call.

A POST is resent only when the server cannot have processed it (see ``api.retry.is_safe_to_resend``).
After an *ambiguous* failure (timeout after sending, 502/504, an unreadable 2xx) the hook lists recent
assessments (newest first) and adopts the one the attempt may have created: same model, same probe
keys / probe packs, created after the call started, and not among the assessments that existed before
the first POST (the hook lists them once before sending: one cheap GET per call, so an identical
assessment launched a moment earlier by someone else is never mistaken for ours, whatever the clocks
say). Only when none is found is the POST sent again. Each decision is logged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from modelred_provider.api.endpoints import RequestSpec
from modelred_provider.api.models import Assessment

#: Tolerated difference between our clock and the server's when comparing creation times.
CLOCK_SKEW = timedelta(seconds=2)
#: How many recent assessments to look through.
LOOKUP_LIMIT = 20


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
        created = assessment.created_at
        if created.tzinfo is None:
            created = created.replace(tzinfo=self.started_at.tzinfo)
        if created < self.started_at - CLOCK_SKEW:
            return False
        if assessment.model_id is not None and assessment.model_id not in self.model_refs:
            return False
        listed = assessment.probe_pack_ids if self.by_packs else assessment.test_types
        return not listed or frozenset(listed) == self.requested

    def find(self, recent: Iterable[Assessment]) -> Assessment | None:
        for assessment in recent:  # newest first
            if self.matches(assessment):
                return assessment
        return None
