"""The quality gate: does a finished assessment meet the bar to ship the model?

Pure functions over :class:`~modelred_provider.api.models.Report`; used by the operator and the sensor.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from modelred_provider.api.models import RISK_LEVELS, SEVERITIES, Report


def is_templated(value: Any) -> bool:
    """A value Airflow will render at run time; checking it at DAG parse would be premature."""
    return isinstance(value, str) and "{{" in value


def as_list(value: Any, param: str) -> list[str] | None:
    """A list of strings; a rendered template gives a string: a JSON list, the Python repr of a list
    (what ``"{{ params.x }}"`` renders for a list param), or comma-separated values."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                try:
                    value = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    raise ValueError(f"{param}={value!r} is not a valid JSON list of strings.") from None
        else:
            value = [part.strip() for part in text.split(",") if part.strip()]
    if not isinstance(value, (list, tuple, set)) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{param}={value!r} must be a list of non-empty strings.")
    if not value:
        raise ValueError(f"{param} is empty: give at least one value, or leave it out.")
    return list(value)


def check_min_score(value: Any, param: str = "min_score") -> float | None:
    if value is None or value == "":
        return None
    try:
        score = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{param}={value!r} is not a number: give a score between 0 and 100.") from None
    if not 0 <= score <= 100:
        raise ValueError(f"{param}={value!r} is outside 0..100: ModelRed scores run from 0 to 100.")
    return score


def check_risk_level(value: Any, param: str = "max_risk_level") -> str | None:
    if value is None or value == "":
        return None
    level = str(value).strip().lower()
    if level not in RISK_LEVELS:
        raise ValueError(f"{param}={value!r} is not a risk level: use one of {list(RISK_LEVELS)}.")
    return level


def check_severities(value: Any, param: str = "fail_on_severities") -> tuple[str, ...]:
    if value is None or value == "" or value == []:
        return ()
    items = as_list(value, param) or []
    out = []
    for item in items:
        sev = str(item).strip().lower()
        if sev not in SEVERITIES:
            raise ValueError(f"{param} contains {item!r}: use severities from {list(SEVERITIES)}.")
        out.append(sev)
    return tuple(dict.fromkeys(out))


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
