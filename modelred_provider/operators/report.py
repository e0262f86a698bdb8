"""The full report of an assessment, kept as JSON and as one self-contained HTML page in object storage.

``build_report`` turns an assessment (with its report) and the task's summary into one JSON document:
the summary (score, risk, totals, per-category pass rates, gate verdict, baseline, the Airflow task)
plus every probe result, every failing probe in full and every vulnerability. ``render_html`` renders
that document as a page that needs nothing else: inline CSS, an inline SVG bar chart of the pass rate
per category, every value HTML-escaped, no script and no external resource (a Content-Security-Policy
of ``default-src 'none'`` says so to the browser). ``write_report`` writes both files under an Airflow
``ObjectStoragePath`` (``file://``, ``s3://``, ``gs://`` ... whatever filesystems the installed
providers register).

Every string of the document goes through the API-key scrub (``api/redact.py``) before it is written.
Imported when a task runs, never at DAG parse.
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from modelred_provider.api.redact import scrub_any
from modelred_provider.api.vocabulary import SEVERITIES
from modelred_provider.operators.summary import failing_probes

if TYPE_CHECKING:
    from collections.abc import Iterable

    from modelred_provider.api.models import Assessment

__all__ = ["build_report", "html_text", "pass_rate_svg", "render_html", "severity_order", "write_report"]

# The columns of the page's two probe tables.
_FAILING_COLUMNS = ("key", "display_name", "category", "severity", "failed_cases", "total_cases", "pass_rate")
_PROBE_COLUMNS = ("key", "category", "severity", "passed_cases", "failed_cases", "total_cases")


def build_report(assessment: Assessment, summary: dict[str, Any]) -> dict[str, Any]:
    """Build the document: ``{format, summary, probes, failing_probes, vulnerabilities, severity_counts}``.

    ``probes`` holds every probe result, ``failing_probes`` those with failed cases in full (worst
    first, as in the summary), ``vulnerabilities`` every vulnerability (``probe, severity, description,
    recommendation``). Every string is scrubbed of the API key.
    """
    report = assessment.report
    document = {
        "format": "modelred-report/1",
        "summary": summary,
        "created_at": assessment.created_at.isoformat() if assessment.created_at else None,
        "completed_at": assessment.completed_at.isoformat() if assessment.completed_at else None,
        "test_types": assessment.test_types,
        "probe_pack_ids": assessment.probe_pack_ids,
        "probes": [asdict(p) for p in (report.probes if report else ())],
        "failing_probes": [asdict(p) for p in failing_probes(report)],
        "vulnerabilities": [asdict(v) for v in (report.vulnerabilities if report else ())],
        "severity_counts": report.severity_counts if report else {},
    }
    # Findings are whatever the server sent: make them plain JSON first (tuples become lists), then
    # scrub every string.
    return dict(scrub_any(json.loads(json.dumps(document, default=str))))


# --- HTML ---------------------------------------------------------------------------------------------


def html_text(value: Any) -> str:
    """One value as escaped text: ``n/a`` for none, a float as ``%g`` (the report page's and UI tab's)."""
    if value is None or value == "":
        return "n/a"
    return html.escape(f"{value:g}" if isinstance(value, float) else str(value))


def severity_order(counts: Iterable[str]) -> list[str]:
    """List the severities in ``counts``, worst first (the known ones, ``info``, ``unknown``, the rest)."""
    known = (*SEVERITIES, "info", "unknown")
    return [s for s in known if s in counts] + sorted(s for s in counts if s not in known)


def _table(headers: list[str], rows: Iterable[Iterable[Any]], empty: str) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html_text(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    if not body:
        return f"<p class='empty'>{html.escape(empty)}</p>"
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def pass_rate_svg(rates: dict[str, Any], *, width: int = 460) -> str:
    """Inline SVG, one bar per category and its pass rate (0..100 %): the report page's and UI tab's chart.

    Green from 90 %, amber from 70 %, red below; a rate that is not a number in 0..100 shows as ``n/a``
    with no bar. Every text escaped.
    """
    if not rates:
        return "<p class='empty'>No category has results.</p>"
    label_w, bar_h, gap = 170, 16, 8
    height = len(rates) * (bar_h + gap) + 4
    bar_w = width - label_w - 50
    parts = [
        f"<svg class='pass-rates' role='img' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' xmlns='http://www.w3.org/2000/svg' "
        "aria-label='Pass rate per category'>"
    ]
    for i, (category, rate) in enumerate(rates.items()):
        top = 2 + i * (bar_h + gap)
        known = isinstance(rate, int | float) and not isinstance(rate, bool) and 0 <= rate <= 100
        value = float(rate) if known else 0.0
        colour = "#15803d" if value >= 90 else "#c2410c" if value >= 70 else "#b91c1c"
        shown = html.escape(f"{rate:g} %" if known else "n/a", quote=True)
        name, label = html.escape(str(category), quote=True), html.escape(str(category)[:28])
        parts.append(
            f"<text x='0' y='{top + 12}' font-size='12' fill='#374151'>{label}</text>"
            f"<rect x='{label_w}' y='{top}' width='{bar_w}' height='{bar_h}' fill='#f3f4f6' rx='3'/>"
            f"<rect class='bar' data-category='{name}' data-rate='{shown}' x='{label_w}' y='{top}' "
            f"width='{bar_w * value / 100:.1f}' height='{bar_h}' fill='{colour}' rx='3'/>"
            f"<text x='{label_w + bar_w + 6}' y='{top + 12}' font-size='12' fill='#374151'>{shown}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;width:100%;font-size:.92em}
th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}.pass{color:#2e7d32}.fail{color:#c62828}.empty{color:#666}
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:600}
svg text{font-size:12px;font-family:system-ui,sans-serif}
"""


def render_html(document: dict[str, Any]) -> str:
    """One self-contained page: no script, no external resource, every value escaped."""
    summary = document["summary"]
    gate = summary.get("gate")
    verdict, verdict_class = (
        ("n/a", "") if gate is None else ("PASSED", "pass") if gate["passed"] else ("FAILED", "fail")
    )
    totals = summary.get("totals") or {}
    task = summary.get("airflow_task") or {}
    where = " / ".join(str(task.get(k)) for k in ("dag_id", "run_id", "task_id")) if task else None
    baseline = summary.get("baseline")
    facts = [
        ("Model", summary.get("model")),
        ("Assessment", summary.get("assessment_id")),
        ("Status", summary.get("status")),
        ("Score", summary.get("score")),
        ("Risk level", summary.get("risk_level")),
        ("Tests", f"{totals.get('passed', 0)} of {totals.get('tests', 0)} passed"),
        ("ModelRed page", summary.get("url")),
        ("Completed", document.get("completed_at")),
        ("Airflow task", where),
    ]
    if summary.get("error"):
        facts.append(("Error", summary["error"]))
    if baseline is not None:
        facts.append(("Baseline", baseline.get("assessment_id") or baseline.get("note")))
        facts.append(("Score drop", baseline.get("score_drop")))
    rates = summary.get("pass_rate_by_category") or {}
    severities = summary.get("vulnerabilities_by_severity") or {}
    order = severity_order(severities)
    vulns = sorted(
        document.get("vulnerabilities") or [],
        key=lambda v: order.index(v["severity"]) if v.get("severity") in order else -1,
    )
    failing, probes = document.get("failing_probes") or [], document.get("probes") or []
    reasons = "".join(f"<li>{html_text(r)}</li>" for r in (gate or {}).get("reasons") or [])
    title = f"ModelRed report: {html_text(summary.get('model'))} ({html_text(summary.get('assessment_id'))})"
    return "".join(
        [
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
            "<meta http-equiv='Content-Security-Policy' "
            "content=\"default-src 'none'; style-src 'unsafe-inline'\">",
            f"<title>{title}</title><style>{_STYLE}</style></head><body>",
            f"<h1>{title}</h1>",
            f"<p>Quality gate: <strong class='{verdict_class}'>{verdict}</strong></p>",
            f"<ul>{reasons}</ul>" if reasons else "",
            "<dl>" + "".join(f"<dt>{html.escape(k)}</dt><dd>{html_text(v)}</dd>" for k, v in facts) + "</dl>",
            "<h2>Pass rate per category</h2>",
            pass_rate_svg(rates, width=620),
            _table(["Category", "Pass rate (%)"], rates.items(), "No category has results."),
            "<h2>Vulnerabilities by severity</h2>",
            _table(["Severity", "Count"], [[s, severities[s]] for s in order], "None counted."),
            f"<h2>Failing probes ({len(failing)})</h2>",
            _table(
                ["Probe", "Name", "Category", "Severity", "Failed cases", "Total cases", "Pass rate"],
                [[p[k] for k in _FAILING_COLUMNS] for p in failing],
                "No probe failed.",
            ),
            f"<h2>Vulnerabilities ({len(vulns)})</h2>",
            _table(
                ["Severity", "Probe", "Description", "Recommendation"],
                [[v["severity"], v["probe"], v["description"], v["recommendation"]] for v in vulns],
                "No vulnerability reported.",
            ),
            f"<h2>All probes ({len(probes)})</h2>",
            _table(
                ["Probe", "Category", "Severity", "Passed", "Failed", "Total"],
                [[p[k] for k in _PROBE_COLUMNS] for p in probes],
                "The assessment has no probe results.",
            ),
            "</body></html>\n",
        ]
    )


# --- writing -----------------------------------------------------------------------------------------


def write_report(document: dict[str, Any], report_path: Any, *, conn_id: str | None = None) -> dict[str, str]:
    """Write ``report.json`` and ``report.html`` under ``report_path``; return ``{"json": url, "html": url}``.

    ``report_path``: a URL such as ``s3://bucket/modelred/run-1`` or an ``ObjectStoragePath``;
    ``conn_id``: the Airflow connection of the object storage (e.g. an ``aws`` connection).
    """
    from airflow.sdk import ObjectStoragePath

    if isinstance(report_path, ObjectStoragePath):
        base = report_path
    else:
        text = str(report_path).strip()
        if not text:
            raise ValueError(
                "report_path is empty: give a folder URL such as s3://bucket/modelred/{{ run_id }}"
            )
        base = ObjectStoragePath(text, conn_id=conn_id) if conn_id else ObjectStoragePath(text)
    if base.protocol in ("file", "local", ""):
        base.mkdir(parents=True, exist_ok=True)  # object stores have no folders to create
    json_path, html_path = base / "report.json", base / "report.html"
    json_path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    html_path.write_text(render_html(document), encoding="utf-8")
    # The URLs without the connection id that str() holds (s3://conn@bucket/...).
    return {
        kind: f"{p.protocol or 'file'}://{p.path}" for kind, p in (("json", json_path), ("html", html_path))
    }
