"""The pages' HTML and their charts as inline SVG, drawn on the server (no script runs in the page).

Every value is escaped here, in one place: summaries come from XCom, which any task can write.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from operator import attrgetter
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from modelred_provider.operators.report import html_text, pass_rate_svg, severity_order

if TYPE_CHECKING:
    from modelred_provider.plugins._store import Run

_COLOURS = {
    "passed": "#15803d",
    "failed": "#b91c1c",
    "critical": "#7f1d1d",
    "high": "#b91c1c",
    "medium": "#c2410c",
    "low": "#a16207",
    "info": "#1d4ed8",
    "minimal": "#15803d",
    "unknown": "#6b7280",
}
# Who pushed a summary: one task instance.
_task_instance = attrgetter("dag_id", "run_id", "task_id", "map_index")
_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;padding:16px 20px;
color:#1f2937;background:#fff;font-size:14px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:15px;margin:20px 0 8px;color:#374151}
a{color:#1d4ed8}.muted{color:#6b7280}.cards{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0}
.card{border:1px solid #e5e7eb;border-radius:8px;padding:10px 14px;min-width:130px}
.card .label{font-size:12px;color:#6b7280;text-transform:uppercase;letter-spacing:.04em}
.card .value{font-size:24px;font-weight:600}
.badge{display:inline-block;padding:2px 8px;border-radius:10px;color:#fff;font-size:12px;font-weight:600}
table{border-collapse:collapse;margin:6px 0}td,th{padding:5px 10px;border-bottom:1px solid #e5e7eb;
text-align:left}th{font-size:12px;color:#6b7280;text-transform:uppercase}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(440px,1fr));gap:14px}
.chart{border:1px solid #e5e7eb;border-radius:8px;padding:8px 12px}
form{display:flex;gap:10px;align-items:end;flex-wrap:wrap}label{font-size:12px;color:#6b7280}
select,button{font-size:14px;padding:4px 8px}ul{margin:4px 0;padding-left:20px}
code{font-size:13px}
"""


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _badge(text: str) -> str:
    colour = _COLOURS.get(text.lower(), "#6b7280")
    return f'<span class="badge" style="background:{colour}">{_e(text.upper())}</span>'


def page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def ti_link(base: str, run: Run) -> str:
    """Link the task instance in Airflow's own UI (opened in the top window, not in the frame)."""
    dag_id, run_id, task_id = (quote(part, safe="") for part in (run.dag_id, run.run_id, run.task_id))
    mapped = f"/mapped/{run.map_index}" if run.map_index >= 0 else ""
    return f"{base}/dags/{dag_id}/runs/{run_id}/tasks/{task_id}{mapped}"


# --- charts -------------------------------------------------------------------------------------


def trend_svg(runs: Sequence[Run], *, width: int = 460, height: int = 150, current: Run | None = None) -> str:
    """Score over time (0-100), one dot per summary coloured by its verdict; ``current`` ringed."""
    points = [r for r in runs if r.score is not None]
    if not points:
        return '<p class="muted">No scored runs to draw.</p>'
    left, right, top, bottom = 34, 12, 10, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(points)

    def x(i: int) -> float:
        return left + (plot_w / 2 if n == 1 else plot_w * i / (n - 1))

    def y(score: float) -> float:
        return top + plot_h * (1 - max(0.0, min(100.0, score)) / 100)

    parts = [
        f'<svg class="trend" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>Score over time, {n} run{"s" if n != 1 else ""}</title>'
    ]
    for tick in (0, 50, 100):
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
            f'stroke="#e5e7eb"/><text x="{left - 6}" y="{y(tick) + 4:.1f}" font-size="10" '
            f'text-anchor="end" fill="#6b7280">{tick}</text>'
        )
    if n > 1:
        path = " ".join(f"{x(i):.1f},{y(r.score or 0):.1f}" for i, r in enumerate(points))
        parts.append(f'<polyline points="{path}" fill="none" stroke="#6366f1" stroke-width="2"/>')
    for i, r in enumerate(points):
        colour = _COLOURS.get(r.verdict, "#6b7280")
        tip = f"{r.when:%Y-%m-%d %H:%M} {r.dag_id}.{r.task_id} ({r.run_id}): {html_text(r.score)} {r.verdict}"
        is_current = current is not None and _task_instance(r) == _task_instance(current)
        ring = ' stroke="#111827" stroke-width="2"' if is_current else ""
        parts.append(
            f'<circle class="point" data-score="{html_text(r.score)}" data-verdict="{_e(r.verdict)}" '
            f'data-run-id="{_e(r.run_id)}" cx="{x(i):.1f}" cy="{y(r.score or 0):.1f}" '
            f'r="{6 if is_current else 4.5}" fill="{colour}"{ring}><title>{_e(tip)}</title></circle>'
        )
    first, last = points[0].when, points[-1].when
    parts.append(
        f'<text x="{left}" y="{height - 6}" font-size="10" fill="#6b7280">{first:%Y-%m-%d %H:%M}</text>'
        f'<text x="{width - right}" y="{height - 6}" font-size="10" fill="#6b7280" text-anchor="end">'
        f"{last:%Y-%m-%d %H:%M}</text></svg>"
    )
    return "".join(parts)


# --- the task instance tab ----------------------------------------------------------------------


def no_report_page(dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
    where = f"{dag_id} / {run_id} / {task_id}" + (f" [{map_index}]" if map_index >= 0 else "")
    return page(
        "ModelRed",
        f'<h1>ModelRed</h1><p class="muted" id="no-report">No ModelRed summary for {_e(where)}. '
        "The tab shows the report of ModelRed assessment and sensor tasks once their assessment ended; "
        "this task has not pushed one (yet), or is not a ModelRed task.</p>",
    )


def ti_page(current: Run, trend: Sequence[Run], base: str) -> str:
    s = current.summary
    gate = s.get("gate")
    verdict_html = _badge("not evaluated" if gate is None else "passed" if gate["passed"] else "failed")
    reasons = ""
    if gate is not None and gate["reasons"]:
        reasons = '<ul id="gate-reasons">' + "".join(f"<li>{_e(r)}</li>" for r in gate["reasons"]) + "</ul>"
    totals = s["totals"]
    link = (
        f'<a id="modelred-link" href="{_e(s["url"])}" target="_blank" rel="noopener noreferrer">'
        "Open in ModelRed &#8599;</a>"
        if s.get("url")
        else ""
    )
    vulns = s["vulnerabilities_by_severity"]
    vuln_rows = "".join(
        f'<tr><td>{_badge(sev)}</td><td class="vuln-count" data-severity="{_e(sev)}">{vulns[sev]}</td></tr>'
        for sev in severity_order(vulns)
    )
    vuln_html = '<p class="muted">None reported.</p>'
    if vulns:
        vuln_html = f'<table id="vulnerabilities"><tr><th>Severity</th><th>Count</th></tr>{vuln_rows}</table>'
    if s.get("vulnerabilities_unknown"):
        vuln_html += f'<p class="muted">Not all could be counted: {_e(s["vulnerabilities_unknown"])}</p>'
    probes = s["failing_probes"]
    probes_html = (
        '<ul id="failing-probes">' + "".join(f"<li><code>{_e(p)}</code></li>" for p in probes) + "</ul>"
        if probes
        else '<p class="muted" id="failing-probes">No probe failed.</p>'
    )
    error = f'<p id="error"><b>Error:</b> {_e(s["error"])}</p>' if s.get("error") else ""
    try_text = f", try {current.try_number}" if current.try_number else ""
    cards = "".join(
        f'<div class="card"><div class="label">{label}</div><div class="value" id="{key}">{value}</div></div>'
        for label, key, value in (
            ("Score", "score", html_text(current.score)),
            ("Risk", "risk", _badge(s["risk_level"]) if s.get("risk_level") else "n/a"),
            ("Quality gate", "verdict", verdict_html),
            ("Tests passed", "tests", f"{totals['passed']}/{totals['tests']}"),
        )
    )
    body = f"""
<h1>ModelRed assessment of <span id="model">{_e(s["model"])}</span></h1>
<div class="muted">Assessment <code id="assessment-id">{_e(s["assessment_id"])}</code> &middot;
status {_e(s["status"])} &middot; pushed {current.when:%Y-%m-%d %H:%M:%S} UTC{_e(try_text)}
&middot; {link}</div>
{error}
<div class="cards">{cards}</div>
{reasons}
<div class="grid">
 <div><h2>Pass rate per category</h2>{pass_rate_svg(s["pass_rate_by_category"])}</div>
 <div><h2>Score of {_e(s["model"])} in this task, last {len(trend)} run{"s" if len(trend) != 1 else ""}</h2>
  <div id="trend">{trend_svg(trend, current=current)}</div></div>
 <div><h2>Failing probes ({len(probes)})</h2>{probes_html}</div>
 <div><h2>Vulnerabilities by severity</h2>{vuln_html}</div>
</div>
<p class="muted">From the summary this task pushed to XCom (<code>assessment_summary</code>); ModelRed is not
called. <a href="{_e(base)}/plugin/modelred" target="_top">Every model's history</a></p>
"""
    return page(f"ModelRed: {s['model']}", body)


# --- the navigation page ------------------------------------------------------------------------


def _options(name: str, label: str, values: Iterable[str], chosen: str | None) -> str:
    opts = [f'<option value="">All {label}s</option>'] + [
        f'<option value="{_e(v)}"{" selected" if v == chosen else ""}>{_e(v)}</option>' for v in values
    ]
    select = f'<select id="{name}" name="{name}">{"".join(opts)}</select>'
    return f'<div><label for="{name}">{label}</label><br>{select}</div>'


def history_page(
    runs: Sequence[Run],
    *,
    dags: Sequence[str],
    models: Sequence[str],
    dag_id: str | None,
    model: str | None,
    limit: int,
    offset: int,
    base: str,
) -> str:
    by_model: dict[str, list[Run]] = {}
    for run in runs:
        by_model.setdefault(run.model, []).append(run)
    for series in by_model.values():
        series.sort(key=lambda r: r.when)
    ordered = sorted(by_model.items(), key=lambda item: item[1][-1].when, reverse=True)
    rows, charts = [], []
    for name, series in ordered:
        latest = series[-1]
        risk = latest.summary.get("risk_level")
        rows.append(
            f'<tr class="model-row" data-model="{_e(name)}"><td><b>{_e(name)}</b></td>'
            f'<td class="latest-score">{html_text(latest.score)}</td>'
            f"<td>{_badge(risk) if risk else 'n/a'}</td>"
            f'<td class="latest-verdict">{_badge(latest.verdict)}</td><td class="runs">{len(series)}</td>'
            f'<td><a href="{_e(ti_link(base, latest))}" target="_top">{_e(latest.dag_id)} &middot; '
            f"{_e(latest.task_id)}</a><br>"
            f'<span class="muted">{latest.when:%Y-%m-%d %H:%M} UTC</span></td></tr>'
        )
        dags_of = sorted({r.dag_id for r in series})
        charts.append(
            f'<div class="chart" data-model="{_e(name)}"><h2>{_e(name)}</h2>'
            f'<div class="muted">{len(series)} run{"s" if len(series) != 1 else ""} in '
            f"{_e(', '.join(dags_of))}</div>{trend_svg(series)}</div>"
        )
    table = (
        '<table id="models"><tr><th>Model</th><th>Latest score</th><th>Risk</th><th>Verdict</th>'
        f"<th>Runs</th><th>Last assessed</th></tr>{''.join(rows)}</table>"
        if rows
        else '<p class="muted" id="no-runs">No ModelRed summaries in the DAGs you can read'
        " (for this filter).</p>"
    )
    query = {k: v for k, v in (("dag_id", dag_id), ("model", model)) if v}

    def at(start: int) -> str:
        return _e(urlencode({**query, "limit": limit, "offset": start}))

    paging = [f'<a href="?{at(max(0, offset - limit))}">&larr; Newer</a>'] if offset > 0 else []
    paging += [f'<a id="older" href="?{at(offset + limit)}">Older &rarr;</a>'] if len(runs) >= limit else []
    body = f"""
<h1>ModelRed</h1>
<div class="muted">Every model assessed through Airflow, from the summaries ModelRed tasks pushed to XCom
(DAGs you may read). Showing {len(runs)} summar{"y" if len(runs) == 1 else "ies"}, newest first{
        f", from {offset}" if offset else ""
    } (at most {limit} a page). {" ".join(paging)}</div>
<form method="get" action="">
 {_options("dag_id", "DAG", dags, dag_id)}{_options("model", "Model", models, model)}
 <input type="hidden" name="limit" value="{limit}"><div><button type="submit">Filter</button></div>
</form>
<h2>Latest per model</h2>{table}
<h2>Score over time</h2><div class="grid" id="charts">{"".join(charts)}</div>
"""
    return page("ModelRed", body)
