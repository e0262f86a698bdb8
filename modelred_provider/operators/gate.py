"""The quality gate: whether a finished assessment meets the bar to ship the model.

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

from modelred_provider.api.models import AssessmentStatus, Report
from modelred_provider.api.vocabulary import RISK_LEVELS, SEVERITIES, normalize_level
from modelred_provider.operators.validation import (
    check_flag,
    check_min_score,
    check_risk_level,
    check_severities,
)
from modelred_provider.waiting.parameters import is_finite_number

if TYPE_CHECKING:
    from modelred_provider.api.models import Assessment

__all__ = [
    "BASELINE_EXPLICIT",
    "BASELINE_LATEST",
    "GateVerdict",
    "QualityGate",
    "RegressionGate",
    "combine",
    "count_vulnerabilities",
    "pick_baseline",
]

#: The key of :func:`count_vulnerabilities` for vulnerabilities whose severity is missing or unknown.
_UNKNOWN = "unknown"
_NO_REPORT = "the assessment has no report"


@dataclass(frozen=True)
class GateVerdict:
    """Whether the gate passed, and why not."""

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
        reasons: list[str] = []
        if self.min_score is not None:
            reasons += self._score_reasons(report)
        if self.max_risk_level is not None:
            reasons += self._risk_reasons(report)
        if self.fail_on_severities:
            reasons += self._severity_reasons(report)
        return GateVerdict(not reasons, reasons)

    def _score_reasons(self, report: Report | None) -> list[str]:
        bar = self.min_score
        if not _is_score(bar):  # built directly, not by from_params: NaN would pass every comparison
            return [f"min_score={bar!r} is not a score between 0 and 100, so the gate cannot pass"]
        criterion = f"min_score={bar:g}"
        score = report.overall_score if report is not None else None
        if _is_score(score):
            return [f"overall score {score:g} is below {criterion}"] if score < bar else []  # type: ignore[operator]
        if report is None:
            gap = _NO_REPORT
        elif score is None:
            gap = "no overall score reported"
        elif not is_finite_number(score):
            gap = f"overall score {score!r} is not a number"
        else:
            gap = f"overall score {score:g} is outside 0..100 (not a ModelRed score)"
        return [f"{gap}, so {criterion} cannot be met"]

    def _risk_reasons(self, report: Report | None) -> list[str]:
        limit = normalize_level(self.max_risk_level)
        if limit not in RISK_LEVELS:
            return [f"max_risk_level={self.max_risk_level!r} is not a risk level, so the gate cannot pass"]
        criterion = f"max_risk_level={limit!r}"
        risk = normalize_level(report.risk_level) if report is not None else None
        if risk in RISK_LEVELS:
            above = RISK_LEVELS.index(risk) > RISK_LEVELS.index(limit)
            return [f"risk level {risk!r} is above {criterion}"] if above else []
        if report is None:
            gap = _NO_REPORT
        elif risk is None:
            gap = "no risk level reported"
        else:
            gap = f"risk level {risk!r} is not a known level ({', '.join(RISK_LEVELS)})"
        return [f"{gap}, so {criterion} cannot be met"]

    def _severity_reasons(self, report: Report | None) -> list[str]:
        bad = [sev for sev in self.fail_on_severities if normalize_level(sev) not in SEVERITIES]
        if bad:
            return [f"fail_on_severities lists {bad!r}, not severities, so the gate cannot pass"]
        wanted = list(dict.fromkeys(normalize_level(sev) for sev in self.fail_on_severities))
        criterion = f"fail_on_severities={wanted!r}"
        if report is None:
            return _uncounted(report, criterion)
        counts = count_vulnerabilities(report)
        reasons = [
            f"{n} {sev} vulnerabilit{'y' if n == 1 else 'ies'} found (fail_on_severities includes {sev!r})"
            for sev in wanted
            if (n := counts[sev])  # type: ignore[index]
        ]
        if n := counts.get(_UNKNOWN, 0):
            spellings = ", ".join(repr(s) for s in _unknown_severities(report)[:3])
            reasons.append(
                f"{n} vulnerabilit{'y' if n == 1 else 'ies'} or failing probe{'' if n == 1 else 's'} with "
                f"a missing or unknown severity ({spellings}) could be any severity, so {criterion} "
                "cannot be checked"
            )
        return reasons + _uncounted(report, criterion)


def _is_score(value: Any) -> bool:
    return is_finite_number(value) and 0 <= value <= 100


def _uncounted(report: Report | None, criterion: str) -> list[str]:
    """Say why a severity criterion cannot be checked: no report, or vulnerabilities it cannot count."""
    if report is None:
        return [f"{_NO_REPORT}, so {criterion} cannot be checked"]
    if report.vulnerabilities_unknown:
        return [
            f"the report's vulnerabilities cannot be counted ({report.vulnerabilities_unknown}), "
            f"so {criterion} cannot be checked"
        ]
    return []


def _bucket(severity: Any) -> str:
    level = normalize_level(severity)
    return level if level in SEVERITIES else _UNKNOWN


def _findings(report: Report) -> tuple[list[tuple[Any, int]], ...]:
    """Return (severity, number) pairs of each source: vulnerabilities, severity_counts, failing probes."""
    return (
        [(v.severity, 1) for v in report.vulnerabilities],
        list(report.severity_counts.items()),
        [(p.severity, 1) for p in report.probes if p.failed_cases > 0],
    )


def count_vulnerabilities(report: Report | None, severities: Sequence[str] = SEVERITIES) -> dict[str, int]:
    """Count vulnerabilities by severity; every known severity is present (0 when none).

    ``"unknown"`` is there too when some have a missing or unknown severity.

    Three sources (:func:`_findings`), each a lower bound of the same number, so the highest count per
    severity wins: none can hide what another shows, and nothing is counted twice.
    """
    keys = (*severities, _UNKNOWN)
    tallies = []
    for source in _findings(report if report is not None else Report()):
        tally = dict.fromkeys(keys, 0)
        for severity, n in source:
            tally[_bucket(severity)] += n
        tallies.append(tally)
    counts = {key: max(tally[key] for tally in tallies) for key in keys}
    if not counts[_UNKNOWN]:
        del counts[_UNKNOWN]
    return counts


def _unknown_severities(report: Report) -> list[Any]:
    """List the distinct missing (``None``) or unknown severity spellings in ``report``, for messages."""
    found = (s for source in _findings(report) for s, n in source if n and _bucket(s) == _UNKNOWN)
    return list(dict.fromkeys(found))


#: Where the regression gate's baseline came from (the summary's ``baseline.chosen``).
BASELINE_EXPLICIT = "baseline_assessment_id"
BASELINE_LATEST = "the newest earlier COMPLETED assessment of the same model and probe set"


def _probe_set(assessment: Assessment) -> tuple[frozenset[str], frozenset[str]]:
    return frozenset(assessment.test_types), frozenset(assessment.probe_pack_ids)


def pick_baseline(current: Assessment, listed: Iterable[Assessment]) -> Assessment | None:
    """Pick the regression baseline of ``current`` among ``listed``; ``None`` when there is none.

    The newest COMPLETED assessment of the same model (database id) and the same probe set (probe keys
    and probe packs), created before ``current``. An assessment whose creation time or model is unknown
    cannot be shown to be one, so it is never chosen.
    """
    if current.created_at is None or not current.model_id:
        return None
    wanted = _probe_set(current)
    candidates = [
        a
        for a in listed
        if a.id != current.id
        and a.status is AssessmentStatus.COMPLETED
        and a.model_id == current.model_id
        and _probe_set(a) == wanted
        and a.created_at is not None
        and a.created_at < current.created_at
    ]
    start = current.created_at
    return max(candidates, key=lambda a: a.created_at or start, default=None)


def _critical_findings(report: Report, *, unknown_counts: bool) -> set[str]:
    """Probe keys with a critical finding (a critical vulnerability or a failing critical probe).

    ``unknown_counts``: a finding of missing or unknown severity counts too (it could be critical).
    """

    def counts(severity: Any) -> bool:
        bucket = _bucket(severity)
        return bucket == "critical" or (unknown_counts and bucket == _UNKNOWN)

    found = {
        v.probe or "(a vulnerability without a probe)" for v in report.vulnerabilities if counts(v.severity)
    }
    found |= {p.key for p in report.probes if p.failed_cases > 0 and counts(p.severity)}
    return found


@dataclass(frozen=True)
class RegressionGate:
    """Compare a finished assessment with a baseline assessment of the model.

    ``max_score_drop``: the most the overall score may fall below the baseline's (points, 0..100).
    ``fail_on_new_critical``: fail when a probe has a critical finding the baseline did not have.
    ``require_baseline``: without a baseline the gate fails; otherwise it passes with a note.
    """

    max_score_drop: float | None = None
    fail_on_new_critical: bool = False
    require_baseline: bool = False

    @classmethod
    def from_params(
        cls, max_score_drop: Any = None, fail_on_new_critical: Any = False, require_baseline: Any = False
    ) -> RegressionGate:
        return cls(
            check_min_score(max_score_drop, "max_score_drop"),
            check_flag(fail_on_new_critical, "fail_on_new_critical"),
            check_flag(require_baseline, "require_baseline"),
        )

    @property
    def is_empty(self) -> bool:
        return self.max_score_drop is None and not self.fail_on_new_critical

    def evaluate(
        self,
        report: Report | None,
        baseline: Assessment | None,
        *,
        missing: str,
        chosen: str | None = None,
        unusable: bool = False,
    ) -> tuple[GateVerdict, dict[str, Any]]:
        """Return the verdict and what the summary says of the baseline.

        ``missing``: why there is none; ``unusable``: a baseline was asked for but cannot be used, which
        fails whatever ``require_baseline``.

        Fails closed: no report, a score that is not a number (either side), a baseline that is not
        COMPLETED or has no report, or a report whose vulnerabilities cannot be counted fail the
        criterion that needs them. A finding of unknown severity in this report counts as critical
        (it could be); in the baseline only a known critical one does, so nothing hides a new one.
        """
        info: dict[str, Any] = dict.fromkeys(
            ("assessment_id", "chosen", "score", "risk_level", "completed_at")
        )
        info.update(score_drop=None, new_critical=None, note=None)  # the summary's ``baseline``, in order
        if self.is_empty:
            return GateVerdict(True, []), info
        info["chosen"] = chosen
        if baseline is None:
            if unusable or self.require_baseline:
                reason = missing if unusable else f"{missing}, and require_baseline=True"
                return GateVerdict(False, [reason]), {**info, "note": missing}
            note = f"{missing}: the regression criteria were not applied (require_baseline=False)"
            return GateVerdict(True, []), {**info, "note": note}
        base = baseline.report
        info.update(
            assessment_id=baseline.id,
            score=base.overall_score if base else None,
            risk_level=normalize_level(base.risk_level) if base else None,
            completed_at=baseline.completed_at.isoformat() if baseline.completed_at else None,
        )
        if baseline.status is not AssessmentStatus.COMPLETED or base is None:
            reason = (
                f"the baseline assessment {baseline.id} is {baseline.status.value} without a report, "
                "so it cannot be compared with"
            )
            return GateVerdict(False, [reason]), info
        reasons: list[str] = []
        if self.max_score_drop is not None:
            reasons.extend(self._drop_reasons(report, base, info))
        if self.fail_on_new_critical:
            reasons.extend(self._critical_reasons(report, base, info))
        return GateVerdict(not reasons, reasons), info

    def _drop_reasons(self, report: Report | None, base: Report, info: dict[str, Any]) -> list[str]:
        if not _is_score(self.max_score_drop):  # built directly, not by from_params: NaN passes every drop
            return [
                f"max_score_drop={self.max_score_drop!r} is not between 0 and 100, so the gate cannot pass"
            ]
        criterion = f"max_score_drop={self.max_score_drop:g}"
        score = report.overall_score if report is not None else None
        for name, value in (("this assessment's", score), ("the baseline's", base.overall_score)):
            if not _is_score(value):
                return [f"{name} overall score {value!r} is not a score, so {criterion} cannot be checked"]
        drop = round(float(base.overall_score) - float(score), 6)  # type: ignore[arg-type]
        info["score_drop"] = drop
        if drop > self.max_score_drop:  # type: ignore[operator]
            return [
                f"overall score {score:g} dropped {drop:g} points from the baseline's "
                f"{base.overall_score:g}, more than {criterion}"
            ]
        return []

    def _critical_reasons(self, report: Report | None, base: Report, info: dict[str, Any]) -> list[str]:
        if report is None or report.vulnerabilities_unknown:
            return _uncounted(report, "fail_on_new_critical")
        new = sorted(
            _critical_findings(report, unknown_counts=True) - _critical_findings(base, unknown_counts=False)
        )
        info["new_critical"] = new
        if new:
            return [
                f"{len(new)} probe{'' if len(new) == 1 else 's'} with a critical (or unknown-severity) "
                f"finding the baseline did not have: {', '.join(new[:10])}"
            ]
        return []


def combine(*verdicts: GateVerdict) -> GateVerdict:
    """One verdict: passed when every part passed, with every part's reasons."""
    reasons = [reason for verdict in verdicts for reason in verdict.reasons]
    return GateVerdict(all(v.passed for v in verdicts), reasons)
