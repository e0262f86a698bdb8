"""Typed results of the ModelRed API.

These dataclasses are the shared vocabulary of the hook, the trigger and the operators.
Parsing payloads into them lives in ``modelred_provider.api.parsing``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from modelred_provider.api.vocabulary import ApiGeneration

__all__ = [
    "Assessment",
    "AssessmentStatus",
    "Model",
    "Probe",
    "ProbeIndex",
    "ProbePack",
    "ProbeResult",
    "Report",
    "Vulnerability",
]


class AssessmentStatus(str, Enum):
    """Assessment status. UPPERCASE on the wire; parsing is case-insensitive."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_terminal(self) -> bool:
        return self in (AssessmentStatus.COMPLETED, AssessmentStatus.FAILED, AssessmentStatus.CANCELLED)


@dataclass(frozen=True)
class Model:
    """A model registered with ModelRed."""

    id: str
    model_id: str | None = None
    provider: str | None = None
    model_name: str | None = None
    display_name: str | None = None
    description: str | None = None
    is_active: bool = True
    last_tested: datetime | None = None
    test_count: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Probe:
    """A probe of the catalogue; its ``key`` is what ``test_types`` takes."""

    key: str
    display_name: str | None = None
    description: str | None = None
    category: str | None = None
    tier: str | None = None
    severity: str | None = None
    is_active: bool = True
    version: str | None = None
    id: str | None = None  # the probe's database id (``key`` is what ``test_types`` takes)
    estimated_time: float | None = None  # seconds, as the catalogue says
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProbeIndex:
    """The probe catalogue: ``for probe in index``, ``len(index)`` and ``key in index`` work on ``probes``."""

    probes: tuple[Probe, ...] = ()
    probe_categories: dict[str, Any] = field(default_factory=dict)
    tier_definitions: dict[str, Any] = field(default_factory=dict)
    severity_levels: dict[str, Any] = field(default_factory=dict)
    user_tier: str | None = None

    def __iter__(self) -> Iterator[Probe]:
        return iter(self.probes)

    def __len__(self) -> int:
        return len(self.probes)

    def __contains__(self, item: object) -> bool:
        """Test for a :class:`Probe`, or a probe key (``"dan_classic" in index``)."""
        return item in (self.keys() if isinstance(item, str) else self.probes)

    def keys(self) -> list[str]:
        """Return the probe keys, in catalogue order (what ``test_types`` takes)."""
        return [probe.key for probe in self.probes]


@dataclass(frozen=True)
class ProbePack:
    """A probe pack (a named set of probes)."""

    id: str
    name: str | None = None
    category: str | None = None
    is_public: bool | None = None
    probe_count: int | None = None
    prompt_count: int | None = None
    created_at: datetime | None = None
    imported_at: datetime | None = None


@dataclass(frozen=True)
class ProbeResult:
    """One probe's cases in a report."""

    key: str
    display_name: str | None = None
    category: str | None = None
    severity: str | None = None
    total_cases: int = 0
    passed_cases: int = 0
    failed_cases: int = 0
    pass_rate: float | None = None
    findings: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Vulnerability:
    """A finding of a report."""

    probe: str | None = None
    severity: str | None = None
    description: str | None = None
    recommendation: str | None = None


@dataclass(frozen=True)
class Report:
    """The report of a COMPLETED assessment."""

    overall_score: float | None = None  # 0..100, higher is safer
    risk_level: str | None = None  # lowercase: low, medium, high, critical
    total_tests: int = 0
    passed_tests: int = 0
    failed_tests: int = 0
    probes: tuple[ProbeResult, ...] = ()
    vulnerabilities: tuple[Vulnerability, ...] = ()
    #: Counts the report gives as numbers rather than as items (``vulnerabilities`` as an object of
    #: severity -> count, or the ``critical_issues``/``high_severity_issues``/... fields), by
    #: normalised severity; a key that is not a severity keeps its own (normalised) spelling.
    severity_counts: dict[str, int] = field(default_factory=dict)
    #: Why the vulnerabilities cannot be counted (absent, null, an unreadable shape or count), or
    #: ``None`` when they can. The gate fails ``fail_on_severities`` when this is set.
    vulnerabilities_unknown: str | None = None


@dataclass(frozen=True)
class Assessment:
    """An assessment as the API answered it (``report``: once COMPLETED, when read)."""

    id: str
    status: AssessmentStatus
    model_id: str | None = None
    progress: int = 0
    priority: str | None = None
    test_types: tuple[str, ...] = ()
    created_at: datetime | None = None
    completed_at: datetime | None = None
    report: Report | None = None
    error_message: str | None = None
    api_generation: ApiGeneration = ApiGeneration.RESOURCES
    url: str | None = None  # the assessment's page in the ModelRed dashboard
    probe_pack_ids: tuple[str, ...] = ()  # v2: the probe packs the assessment runs
    #: The status exactly as the server sent it (trimmed to 64 characters; ``None`` when absent or not
    #: text). ``status`` is what it was read as.
    status_raw: str | None = None
    #: False when the server's status is neither one of the five documented ones nor a known alias
    #: (``CANCELED``, ``IN_PROGRESS``...), or missing: ``status`` is then QUEUED, a guess.
    status_recognised: bool = True
