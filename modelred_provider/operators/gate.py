"""The quality gate: does a finished assessment meet the bar to ship the model?

Pure functions over :class:`~modelred_provider.api.models.Report`; used by the operator and the sensor
when a task ends (never at DAG parse: the parameter checks are in
:mod:`modelred_provider.operators.validation`).

The gate fails closed: a criterion the report does not carry what it needs for fails, with a reason
that says what was missing. See :meth:`QualityGate.evaluate` for the rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelred_provider.api.vocabulary import RISK_LEVELS, SEVERITIES, normalize_level
from modelred_provider.operators.validation import check_min_score, check_risk_level, check_severities
from modelred_provider.waiting.parameters import is_finite_number

if TYPE_CHECKING:
    from modelred_provider.api.models import Report

__all__ = [
    "GateVerdict",
    "QualityGate",
    "count_vulnerabilities",
]

#: The key of :func:`count_vulnerabilities` for vulnerabilities whose severity is missing or unknown.
_UNKNOWN = "unknown"


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
        """Every reason the report fails the gate (an empty gate always passes).

        Fail closed: when the report does not carry what a criterion needs, that criterion fails
        and its reason says what was missing. Severities and risk levels are compared after
        :func:`~modelred_provider.api.vocabulary.normalize_level` (case and whitespace do not count).

        * ``min_score``: fails when there is no report, no score, a score that is not a finite number
          (NaN, a string the parser could not read) or one outside 0..100, or a score below it.
        * ``max_risk_level``: fails when there is no risk level or it is not one of low, medium, high,
          critical (``"very high"``, ``"severe"``...), or when it is above the limit.
        * ``fail_on_severities``: counts by :func:`count_vulnerabilities` (the report's vulnerability
          list or map, its ``*_issues`` counts and its failing probes, each a lower bound: the
          highest count per severity is taken). Fails when a listed severity counts more than 0;
          when the report has no report or its vulnerabilities cannot be counted
          (``Report.vulnerabilities_unknown``: absent, null, another shape, an unreadable count);
          and when any vulnerability or failing probe has a missing or unknown severity, because it
          could be any of the listed ones (the rule: an unknown severity counts against every gate
          that lists a severity, so ``fail_on_severities=["low"]`` fails on it too).
        """
        if self.is_empty:
            return GateVerdict(True, [])
        reasons: list[str] = []
        no_report = "the assessment has no report"
        if self.min_score is not None:
            reasons.extend(self._score_reasons(report, no_report))
        if self.max_risk_level is not None:
            reasons.extend(self._risk_reasons(report, no_report))
        if self.fail_on_severities:
            reasons.extend(self._severity_reasons(report, no_report))
        return GateVerdict(not reasons, reasons)

    def _score_reasons(self, report: Report | None, no_report: str) -> list[str]:
        bar = self.min_score
        if not is_finite_number(bar) or not 0 <= bar <= 100:  # type: ignore[operator]
            return [f"min_score={bar!r} is not a score between 0 and 100, so the gate cannot pass"]
        criterion = f"min_score={bar:g}"
        score = report.overall_score if report is not None else None
        if report is None:
            return [f"{no_report}, so {criterion} cannot be met"]
        if score is None:
            return [f"no overall score reported, so {criterion} cannot be met"]
        if not is_finite_number(score):
            return [f"overall score {score!r} is not a number, so {criterion} cannot be met"]
        if not 0 <= score <= 100:
            return [
                f"overall score {score:g} is outside 0..100 (not a ModelRed score), "
                f"so {criterion} cannot be met"
            ]
        if score < bar:  # type: ignore[operator]
            return [f"overall score {score:g} is below {criterion}"]
        return []

    def _risk_reasons(self, report: Report | None, no_report: str) -> list[str]:
        limit = normalize_level(self.max_risk_level)
        if limit not in RISK_LEVELS:
            return [f"max_risk_level={self.max_risk_level!r} is not a risk level, so the gate cannot pass"]
        criterion = f"max_risk_level={limit!r}"
        if report is None:
            return [f"{no_report}, so {criterion} cannot be met"]
        risk = normalize_level(report.risk_level)
        if risk is None:
            return [f"no risk level reported, so {criterion} cannot be met"]
        if risk not in RISK_LEVELS:
            return [
                f"risk level {risk!r} is not a known level ({', '.join(RISK_LEVELS)}), "
                f"so {criterion} cannot be met"
            ]
        if RISK_LEVELS.index(risk) > RISK_LEVELS.index(limit):
            return [f"risk level {risk!r} is above {criterion}"]
        return []

    def _severity_reasons(self, report: Report | None, no_report: str) -> list[str]:
        wanted = [normalize_level(sev) for sev in self.fail_on_severities]
        bad = [sev for sev in self.fail_on_severities if normalize_level(sev) not in SEVERITIES]
        if bad:
            return [f"fail_on_severities lists {bad!r}, not severities, so the gate cannot pass"]
        criterion = f"fail_on_severities={list(dict.fromkeys(wanted))!r}"
        if report is None:
            return [f"{no_report}, so {criterion} cannot be checked"]
        reasons = []
        counts = count_vulnerabilities(report)
        for sev in dict.fromkeys(wanted):
            n = counts.get(sev or "", 0)
            if n:
                reasons.append(
                    f"{n} {sev} vulnerabilit{'y' if n == 1 else 'ies'} found "
                    f"(fail_on_severities includes {sev!r})"
                )
        if counts.get(_UNKNOWN):
            n = counts[_UNKNOWN]
            spellings = ", ".join(repr(s) for s in _unknown_severities(report)[:3])
            reasons.append(
                f"{n} vulnerabilit{'y' if n == 1 else 'ies'} or failing probe{'' if n == 1 else 's'} with "
                f"a missing or unknown severity ({spellings}) could be any severity, so {criterion} "
                "cannot be checked"
            )
        if report.vulnerabilities_unknown:
            reasons.append(
                f"the report's vulnerabilities cannot be counted ({report.vulnerabilities_unknown}), "
                f"so {criterion} cannot be checked"
            )
        return reasons


def _bucket(severity: Any) -> str:
    level = normalize_level(severity)
    return level if level in SEVERITIES else _UNKNOWN


def count_vulnerabilities(report: Report | None, severities: Sequence[str] = SEVERITIES) -> dict[str, int]:
    """Vulnerabilities counted by severity; every known severity is present (0 when none), and
    ``"unknown"`` too when some have a missing or unknown severity.

    Three sources, each a lower bound of the same number, so the highest count per severity wins
    (none can hide what another shows, and nothing is counted twice): the vulnerability items, the
    counts the report gives as numbers (``Report.severity_counts``) and the probes with failed cases.
    """
    keys = (*severities, _UNKNOWN)
    if report is None:
        return dict.fromkeys(severities, 0)
    items = dict.fromkeys(keys, 0)
    for vuln in report.vulnerabilities:
        items[_bucket(vuln.severity)] += 1
    given = dict.fromkeys(keys, 0)
    for severity, n in report.severity_counts.items():
        given[_bucket(severity)] += n
    probes = dict.fromkeys(keys, 0)
    for probe in report.probes:
        if probe.failed_cases > 0:
            probes[_bucket(probe.severity)] += 1
    counts = {key: max(items[key], given[key], probes[key]) for key in keys}
    if not counts[_UNKNOWN]:
        del counts[_UNKNOWN]
    return counts


def _unknown_severities(report: Report | None) -> list[str | None]:
    """The distinct missing (``None``) or unknown severity spellings in ``report``, for messages."""
    if report is None:
        return []
    seen = [v.severity for v in report.vulnerabilities]
    seen += [s for s, n in report.severity_counts.items() if n]
    seen += [p.severity for p in report.probes if p.failed_cases > 0]
    return list(dict.fromkeys(s for s in seen if _bucket(s) == _UNKNOWN))
