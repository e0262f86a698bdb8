"""The emulator's state: keys, organisations, catalogue, assessments, counters.

Assessment status is derived from the time since creation (no background task per assessment), so
thousands of waiting assessments cost nothing until polled. A control call (complete/fail/cancel, as
from the web UI) pins a terminal status. All mutation happens under one lock: the Python API runs in
the test's thread while handlers run on the server's event loop; every critical section is tiny.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from modelred_provider.testing import catalogue
from modelred_provider.testing.errors import ApiError, assessment_not_found
from modelred_provider.testing.faults import ChaosDraw
from modelred_provider.testing.reports import build_report
from modelred_provider.testing.scenario import ModelScenario, load_chaos, load_scenario, read_scenario

__all__ = [
    "PLAN_MESSAGE",
    "PRIORITIES",
    "STATUSES",
    "TERMINAL",
    "AssessmentRecord",
    "EmulatorState",
    "Snapshot",
    "iso",
]

QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED = "QUEUED", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"
STATUSES = (QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED)
TERMINAL = frozenset({COMPLETED, FAILED, CANCELLED})
PRIORITIES = ("low", "normal", "high", "critical")

# Fractions of the assessment duration: QUEUED for the first 20 %, then RUNNING; a failing model fails
# halfway through its run (progress 50); others complete at 100 %.
_QUEUED_FRACTION = 0.2
_FAIL_POINT = 0.5

PLAN_MESSAGE = (
    "API key access is only available on Pro and Enterprise plans. "
    "Please upgrade your subscription to use the ModelRed SDK."
)
_DEFAULT_FAIL_ERROR = "Assessment failed: the target model could not be evaluated"


def iso(epoch: float) -> str:
    """ISO-8601 in UTC with milliseconds and a ``Z`` suffix."""
    dt = datetime.fromtimestamp(epoch, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


@dataclass
class Snapshot:
    """An assessment's state at one moment."""

    status: str
    progress: int
    completed_epoch: float | None
    error: str | None


@dataclass
class AssessmentRecord:
    """A stored assessment."""

    id: str
    generation: str
    model: dict[str, Any]
    probe_keys: list[str]
    probe_pack_ids: list[str] | None
    priority: str
    api_key: str
    organization_id: str
    created_mono: float
    created_epoch: float
    duration: float
    outcome: str
    score: float | None
    error: str | None
    forced: Snapshot | None = None
    forced_at: float = 0.0
    report_cache: dict[str, Any] | None = field(default=None, repr=False)

    def snapshot(self, now: float) -> Snapshot:
        """Status at monotonic time ``now`` (a pure function of time, outcome and any control call)."""
        if self.forced is not None and now >= self.forced_at:
            return self.forced
        if self.outcome == "stuck":
            return Snapshot(QUEUED, 0, None, None)
        elapsed = now - self.created_mono
        d = self.duration
        queued_until = _QUEUED_FRACTION * d
        if self.outcome == "fail":
            fail_at = queued_until + _FAIL_POINT * (d - queued_until)
            if elapsed >= fail_at:
                return Snapshot(FAILED, 50, self.created_epoch + fail_at, self.error or _DEFAULT_FAIL_ERROR)
        if elapsed >= d:
            return Snapshot(COMPLETED, 100, self.created_epoch + d, None)
        if elapsed < queued_until:
            return Snapshot(QUEUED, 0, None, None)
        progress = int(100 * (elapsed - queued_until) / (d - queued_until))
        return Snapshot(RUNNING, max(0, min(99, progress)), None, None)


class EmulatorState:
    """Everything the emulator holds: keys, organisations, models, assessments, scenario, faults."""

    def __init__(
        self,
        api_keys: Iterable[str],
        assessment_seconds: float,
        scenario: Any = None,
        free_tier_keys: Iterable[str] = (),
        key_orgs: Mapping[str, Iterable[str]] | None = None,
        max_concurrent: int | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.api_keys = tuple(api_keys)
        self.free_tier_keys = frozenset(free_tier_keys)
        for key in (*self.api_keys, *self.free_tier_keys):
            if not isinstance(key, str) or not key.startswith("mr_") or len(key) < 12:
                raise ValueError(
                    "Emulator API keys must be strings starting with 'mr_' and at least 12 characters long, "
                    "like real ModelRed keys (e.g. 'mr_test_key_0001')"
                )
        if not self.api_keys:
            raise ValueError("Give the emulator at least one API key, e.g. api_keys=('mr_test_key_0001',)")
        self.valid_keys = frozenset(self.api_keys) | self.free_tier_keys
        if assessment_seconds < 0:
            raise ValueError(f"assessment_seconds must be >= 0, got {assessment_seconds!r}")
        if max_concurrent is not None and max_concurrent < 1:
            raise ValueError(f"max_concurrent must be a positive integer or None, got {max_concurrent!r}")
        self.assessment_seconds = float(assessment_seconds)
        self.max_concurrent = max_concurrent
        self.key_orgs: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in (key_orgs or {}).items()}
        for key in self.key_orgs:
            if key not in self.valid_keys:
                raise ValueError("key_orgs names a key that is not one of the emulator's API keys")

        self.models: dict[str, dict[str, Any]] = {}
        self.model_slugs: dict[str, str] = {}
        for m in catalogue.seed_models():
            self._add_model(m)
        self.probes: dict[str, dict[str, Any]] = {p["key"]: p for p in catalogue.seed_probes()}
        self.packs: dict[str, dict[str, Any]] = {p["id"]: p for p in catalogue.seed_packs()}
        self.imports: dict[str, dict[str, str]] = {}
        for org, pack_id, at in catalogue.seed_imports():
            self.imports.setdefault(org, {})[pack_id] = at
        self.organizations: set[str] = set(catalogue.ORGANIZATIONS)

        self.assessments: dict[str, AssessmentRecord] = {}
        self.by_key: dict[str, list[str]] = {}
        self.created_ids: list[str] = []
        self.counts: Counter[str] = Counter()
        self.connections = 0
        self.scenario: dict[str, ModelScenario] = {}
        #: The scenario's random faults (read by the fault middleware), None without ``chaos``.
        self.chaos: ChaosDraw | None = None
        self.set_scenario(scenario)

    # -- models ---------------------------------------------------------------------------------
    def _add_model(self, record: dict[str, Any]) -> None:
        self.models[record["id"]] = record
        self.model_slugs[record["modelId"]] = record["id"]

    def set_scenario(self, scenario: Any) -> None:
        """Replace the scenario (dict or path) and its ``chaos`` (reseeded); made assessments keep theirs."""
        data = read_scenario(scenario)
        parsed = load_scenario(data)
        chaos = load_chaos(data)
        with self.lock:
            self.chaos = ChaosDraw(chaos) if chaos is not None else None
            resolved: dict[str, ModelScenario] = {}
            for ident, spec in parsed.items():
                model = self.models.get(ident) or self.models.get(self.model_slugs.get(ident, ""))
                if model is None:
                    org = spec.organization_id or catalogue.ORG_ACME
                    model = catalogue.model_record(
                        ident,
                        provider=spec.provider or "rest",
                        model_name=ident,
                        display_name=spec.display_name or ident,
                        description="Added by the emulator scenario.",
                        organization_id=org,
                        created_at=iso(time.time()),
                    )
                    self._add_model(model)
                    self.organizations.add(org)
                resolved[model["id"]] = spec
            self.scenario = resolved

    def member_orgs(self, api_key: str) -> tuple[str, ...]:
        """Return the key's organisations, primary first: its ``key_orgs``, else all (org_acme first)."""
        bound = self.key_orgs.get(api_key)
        if bound is not None:
            return bound
        return (catalogue.ORG_ACME, *sorted(self.organizations - {catalogue.ORG_ACME}))

    def visible_orgs(self, api_key: str, header_org: str | None) -> frozenset[str]:
        """Return the one organisation a request acts in.

        ``x-organization-id`` if the key is a member of it, else the key's primary organisation (as v2
        derives the org from the key).
        """
        member = self.member_orgs(api_key)
        if header_org:
            if header_org not in member:
                raise ApiError(
                    403,
                    f"This API key is not a member of organization '{header_org}'",
                    "ORGANIZATION_FORBIDDEN",
                    {"organizationId": header_org},
                )
            return frozenset({header_org})
        return frozenset(member[:1])

    def find_model(self, ident: str, orgs: frozenset[str]) -> dict[str, Any] | None:
        with self.lock:
            model = self.models.get(ident) or self.models.get(self.model_slugs.get(ident, ""))
        if model is None or model["organizationId"] not in orgs:
            return None
        return model

    def list_models(self, orgs: frozenset[str]) -> list[dict[str, Any]]:
        with self.lock:
            return [m for m in self.models.values() if m["organizationId"] in orgs]

    def create_model(self, record: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            if record["modelId"] in self.model_slugs:
                raise ApiError(409, "Model already exists", "MODEL_EXISTS", {"modelId": record["modelId"]})
            self._add_model(record)
            self.organizations.add(record["organizationId"])
        return record

    def delete_model(self, model_id: str) -> None:
        with self.lock:
            model = self.models.pop(model_id)
            self.model_slugs.pop(model["modelId"], None)

    # -- probe packs ------------------------------------------------------------------------------
    def owned_packs(self, orgs: frozenset[str]) -> list[dict[str, Any]]:
        return [p for p in self.packs.values() if p["organizationId"] in orgs]

    def imported_packs(self, orgs: frozenset[str]) -> list[tuple[dict[str, Any], str]]:
        out: dict[str, tuple[dict[str, Any], str]] = {}
        for org in sorted(orgs):
            for pack_id, at in self.imports.get(org, {}).items():
                pack = self.packs.get(pack_id)
                if pack is not None and pack["organizationId"] not in orgs:
                    out.setdefault(pack_id, (pack, at))
        return list(out.values())

    def usable_pack_ids(self, orgs: frozenset[str]) -> set[str]:
        return {p["id"] for p in self.owned_packs(orgs)} | {p["id"] for p, _ in self.imported_packs(orgs)}

    # -- assessments ---------------------------------------------------------------------------
    def outcome_for(self, model: dict[str, Any]) -> ModelScenario:
        spec = self.scenario.get(model["id"])
        if spec is not None:
            return spec
        return ModelScenario(outcome=model["_outcome"], error=model["_error"])

    def create_assessment(
        self,
        *,
        generation: str,
        model: dict[str, Any],
        probe_keys: list[str],
        probe_pack_ids: list[str] | None,
        priority: str,
        api_key: str,
    ) -> AssessmentRecord:
        spec = self.outcome_for(model)
        now = time.monotonic()
        with self.lock:
            if self.max_concurrent is not None:
                active = sum(
                    1
                    for aid in self.by_key.get(api_key, ())
                    if self.assessments[aid].snapshot(now).status not in TERMINAL
                )
                if active >= self.max_concurrent:
                    raise ApiError(
                        403,
                        "Maximum concurrent assessments reached",
                        "CONCURRENT_LIMIT_REACHED",
                        {"limit": self.max_concurrent, "active": active},
                    )
            record = AssessmentRecord(
                id="asm_" + uuid.uuid4().hex[:20],
                generation=generation,
                model=model,
                probe_keys=list(probe_keys),
                probe_pack_ids=list(probe_pack_ids) if probe_pack_ids is not None else None,
                priority=priority,
                api_key=api_key,
                organization_id=model["organizationId"],
                created_mono=now,
                created_epoch=time.time(),
                duration=spec.seconds if spec.seconds is not None else self.assessment_seconds,
                outcome=spec.outcome,
                score=spec.score,
                error=spec.error,
            )
            self.assessments[record.id] = record
            self.by_key.setdefault(api_key, []).append(record.id)
            self.created_ids.append(record.id)
            model["testCount"] = model.get("testCount", 0) + 1
            model["lastTested"] = iso(record.created_epoch)
        return record

    def get_assessment(self, assessment_id: str, orgs: frozenset[str] | None = None) -> AssessmentRecord:
        record = self.assessments.get(assessment_id)
        if record is None or (orgs is not None and record.organization_id not in orgs):
            raise assessment_not_found(assessment_id)
        return record

    def list_assessments(self, orgs: frozenset[str]) -> list[AssessmentRecord]:
        """Visible assessments, newest first."""
        with self.lock:
            records = list(self.assessments.values())
        return [r for r in reversed(records) if r.organization_id in orgs]

    def report_for(self, record: AssessmentRecord) -> dict[str, Any]:
        if record.report_cache is None:
            probes = [self.probes[k] for k in record.probe_keys if k in self.probes]
            record.report_cache = build_report(record.model["modelId"], probes, record.outcome, record.score)
        return record.report_cache

    def force(self, assessment_id: str, status: str, error: str | None = None) -> AssessmentRecord:
        """Pin a terminal status now, as if from the web UI. Unknown id -> 404; already terminal -> 409."""
        now = time.monotonic()
        with self.lock:
            record = self.get_assessment(assessment_id)
            current = record.snapshot(now)
            if current.status in TERMINAL:
                raise ApiError(
                    409,
                    f"Assessment {assessment_id} is already {current.status}",
                    "ASSESSMENT_TERMINAL",
                    {"status": current.status},
                )
            progress = 100 if status == COMPLETED else current.progress
            if status == FAILED:
                error = error or _DEFAULT_FAIL_ERROR
            elif status == CANCELLED:
                error = None
            record.forced = Snapshot(status, progress, time.time(), error)
            record.forced_at = now
            if status == COMPLETED and record.outcome in ("fail", "stuck"):
                record.outcome = "pass"  # a forced completion still gets a report
        return record

    # -- counters -------------------------------------------------------------------------------
    def count(self, key: str) -> None:
        with self.lock:
            self.counts[key] += 1

    def count_connection(self) -> None:
        with self.lock:
            self.connections += 1

    def reset_counts(self) -> None:
        with self.lock:
            self.counts.clear()
            self.connections = 0
