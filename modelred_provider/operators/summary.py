"""The task's return value (a JSON-serialisable summary) and the short report written to the log.

Pure functions over :class:`~modelred_provider.api.models.Assessment`: the operator and the sensor
return exactly this in every mode (sync, deferrable, retry that reattached).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelred_provider.api.models import Report
from modelred_provider.api.vocabulary import SEVERITIES, normalize_level
from modelred_provider.operators.gate import GateVerdict, count_vulnerabilities

if TYPE_CHECKING:
    from modelred_provider.api.models import Assessment, ProbeResult

__all__ = ["build_summary", "failing_probes", "pass_rate_by_category", "render_report"]

_SEVERITY_RANK = {sev: i for i, sev in enumerate(SEVERITIES)}  # critical first


def _rank(severity: str | None) -> int:
    # Unknown severities sort first: they could be the worst (the gate counts them against every severity).
    return _SEVERITY_RANK.get(normalize_level(severity) or "", -1)


def pass_rate_by_category(report: Report | None) -> dict[str, float | None]:
    """Percentage of passed cases per probe category (``None`` for a category without cases)."""
    totals: dict[str, list[int]] = {}
    for probe in report.probes if report else ():
        cat = probe.category or "uncategorised"
        passed, total = totals.setdefault(cat, [0, 0])
        totals[cat] = [passed + probe.passed_cases, total + probe.total_cases]
    return {cat: (round(100.0 * p / t, 1) if t else None) for cat, (p, t) in sorted(totals.items())}


def failing_probes(report: Report | None) -> list[ProbeResult]:
    """Probes with failed cases, worst first (severity, then failures)."""
    probes = [p for p in (report.probes if report else ()) if p.failed_cases > 0]
    return sorted(probes, key=lambda p: (_rank(p.severity), -p.failed_cases, p.key))


def build_summary(
    assessment: Assessment,
    *,
    url: str | None,
    model: str | None,
    gate: GateVerdict | None,
    baseline: dict[str, Any] | None = None,
    airflow_task: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the JSON summary; ``gate`` is ``None`` when the task did not wait for the result.

    ``baseline`` is what the regression gate compared with (``None`` without regression criteria):
    ``{assessment_id, chosen, score, risk_level, completed_at, score_drop, new_critical, note}``.
    ``airflow_task`` names the task instance that ran or watched the assessment (``dag_id``,
    ``run_id``, ``task_id``, ``map_index``, ``try_number``): the API gives an assessment no name or
    description to carry it (contract 1.2), so it travels here and in the asset event.

    ``status`` is what the server's status was read as; ``status_raw`` is what the server sent (an
    alias like ``CANCELED``, or a status the contract does not list, read as QUEUED).
    ``vulnerabilities_by_severity`` has an ``unknown`` key when some severities are missing or unknown;
    ``vulnerabilities_unknown`` says why the vulnerabilities could not be counted (``None`` if they could).
    """
    # No report: the figures of an empty one, and why its vulnerabilities cannot be counted.
    report = assessment.report or Report(vulnerabilities_unknown="the assessment has no report")
    return {
        "assessment_id": assessment.id,
        "url": url or assessment.url,
        "status": assessment.status.value,
        "status_raw": assessment.status_raw,
        "model": model or assessment.model_id,
        "api_generation": assessment.api_generation.value,
        "score": report.overall_score,
        "risk_level": normalize_level(report.risk_level),
        "totals": {"tests": report.total_tests, "passed": report.passed_tests, "failed": report.failed_tests},
        "pass_rate_by_category": pass_rate_by_category(report),
        "vulnerabilities_by_severity": count_vulnerabilities(report),
        "vulnerabilities_unknown": report.vulnerabilities_unknown,
        "failing_probes": [p.key for p in failing_probes(report)],
        "error": assessment.error_message,
        "gate": gate.as_dict() if gate is not None else None,
        "baseline": baseline,
        "airflow_task": airflow_task,
    }


def render_report(assessment: Assessment, summary: dict[str, Any], *, limit: int = 5) -> str:
    """Render a short human-readable report: score, risk, failing probes, worst vulnerabilities."""
    report = assessment.report
    score = summary["score"]
    status = summary["status"]
    if assessment.status_raw is not None and assessment.status_raw.strip().upper() != status:
        status += f" (the server said {assessment.status_raw!r})"
    lines = [
        f"ModelRed assessment {summary['assessment_id']} of model {summary['model']}: {status}",
        f"  score: {'n/a' if score is None else f'{score:g}/100'}   risk: {summary['risk_level'] or 'n/a'}"
        f"   tests: {summary['totals']['passed']}/{summary['totals']['tests']} passed",
    ]
    if summary["error"]:
        lines.append(f"  error: {summary['error']}")
    if failing := failing_probes(report):
        lines.append(f"  failing probes ({len(failing)}):")
        for p in failing[:limit]:
            lines.append(f"    - {p.key} [{p.severity or '?'}] {p.failed_cases}/{p.total_cases} cases failed")
    if vulns := sorted(report.vulnerabilities if report else (), key=lambda v: _rank(v.severity)):
        lines.append(f"  worst vulnerabilities ({len(vulns)}):")
        for v in vulns[:limit]:
            lines.append(f"    - [{v.severity or '?'}] {v.probe or '?'}: {v.description or ''}".rstrip(": "))
    if (gate := summary.get("gate")) is not None:
        lines.append(f"  quality gate: {'PASSED' if gate['passed'] else 'FAILED'}")
        lines.extend(f"    - {reason}" for reason in gate["reasons"])
    if (baseline := summary.get("baseline")) is not None:
        if baseline["assessment_id"]:
            score, drop = baseline["score"], baseline["score_drop"]
            lines.append(
                f"  baseline: {baseline['assessment_id']} ({baseline['chosen']}), score "
                + ("n/a" if score is None else f"{score:g}")
                + ("" if drop is None else f", drop {drop:g}")
            )
        if baseline["note"]:
            lines.append(f"  baseline: {baseline['note']}")
    if summary["url"]:
        lines.append(f"  details: {summary['url']}")
    return "\n".join(lines)
