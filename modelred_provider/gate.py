"""The quality gate: does a finished assessment meet the bar to ship the model?

Pure functions over :class:`~modelred_provider.api.models.Report`; used by the operator and the sensor
when a task ends (never at DAG parse: the parameter checks are in :mod:`modelred_provider.validation`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelred_provider.constants import RISK_LEVELS, SEVERITIES

# The parameter checks live in a module the DAG processor can afford; still importable from here.
from modelred_provider.validation import (
    as_list,
    check_min_score,
    check_risk_level,
    check_severities,
    is_templated,
)

if TYPE_CHECKING:
    from modelred_provider.api.models import Report

__all__ = [
    "GateVerdict",
    "QualityGate",
    "as_list",
    "check_min_score",
    "check_risk_level",
    "check_severities",
    "count_vulnerabilities",
    "is_templated",
]


@dataclass(frozen=True)
class GateVerdict:
    passed: bool
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "reasons": list(self.reasons)}


@dataclass(frozen=True)
class QualityGate:
    """``min_score`` (0..100, higher is safer), ``max_risk_level`` and ``fail_on_severities``."""

    min_score: float | None = None
    max_risk_level: str | None = None
    fail_on_severities: tuple[str, ...] = ()

    @classmethod
    def from_params(
        cls,
        min_score: Any = None,
        max_risk_level: Any = None,
        fail_on_severities: Iterable[str] | str | None = None,
    ) -> QualityGate:
        return cls(
            check_min_score(min_score), check_risk_level(max_risk_level), check_severities(fail_on_severities)
        )

    @property
    def is_empty(self) -> bool:
        return self.min_score is None and self.max_risk_level is None and not self.fail_on_severities

    def evaluate(self, report: Report | None) -> GateVerdict:
        """Every reason the report fails the gate (an empty gate always passes)."""
        if self.is_empty:
            return GateVerdict(True, [])
        reasons: list[str] = []
        score = report.overall_score if report else None
        risk = (report.risk_level or "").lower() if report else ""
        if self.min_score is not None:
            if score is None:
                reasons.append(f"no overall score reported, so min_score={self.min_score:g} cannot be met")
            elif score < self.min_score:
                reasons.append(f"overall score {score:g} is below min_score={self.min_score:g}")
        if self.max_risk_level is not None:
            if risk not in RISK_LEVELS:
                reasons.append(
                    f"risk level {risk or 'missing'!r} is not a known level, "
                    f"so max_risk_level={self.max_risk_level!r} cannot be met"
                )
            elif RISK_LEVELS.index(risk) > RISK_LEVELS.index(self.max_risk_level):
                reasons.append(f"risk level {risk!r} is above max_risk_level={self.max_risk_level!r}")
        if self.fail_on_severities:
            counts = count_vulnerabilities(report)
            for sev in self.fail_on_severities:
                if counts.get(sev):
                    reasons.append(
                        f"{counts[sev]} {sev} vulnerabilit{'y' if counts[sev] == 1 else 'ies'} found "
                        f"(fail_on_severities includes {sev!r})"
                    )
        return GateVerdict(not reasons, reasons)


def count_vulnerabilities(report: Report | None, severities: Sequence[str] = SEVERITIES) -> dict[str, int]:
    """Vulnerabilities counted by severity; every known severity is present (0 when none)."""
    counts = dict.fromkeys(severities, 0)
    for vuln in report.vulnerabilities if report else ():
        sev = (vuln.severity or "unknown").lower()
        counts[sev] = counts.get(sev, 0) + 1
    return counts
