"""Keeping the full report (``report_path`` and ModelRedAssessmentReportOperator) on ``file://``:
the operator against the emulator over HTTP, the files read back. The same code on a real S3 server
and under ``dag.test()``: tests/objectstore/ and tests/examples/test_release_pipeline.py."""

from __future__ import annotations

import html
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from modelred_provider.exceptions import ModelRedAssessmentError, ModelRedAssessmentFailedError
from modelred_provider.hooks.modelred import ModelRedHook
from modelred_provider.operators.assessment import XCOM_REPORT, ModelRedAssessmentOperator
from modelred_provider.operators.assessment_report import ModelRedAssessmentReportOperator
from tests.task_context import FakeTI, make_context

HOSTILE = "<script>alert('x')</script><img src=https://evil.example/x.png> & \"quoted\""

pytestmark = pytest.mark.modelred_emulator(
    assessment_seconds=0.5,
    scenario={"models": {"broken-endpoint": {"outcome": "fail", "error": HOSTILE + " key mr_test_key_0001"}}},
)


def _operator(model: str, folder: Path, **kwargs) -> ModelRedAssessmentOperator:
    return ModelRedAssessmentOperator(
        task_id="assess",
        model=model,
        test_types=["dan_classic", "reverse_psychology", "data_leakage_01", "instruction_override"],
        min_score=70,
        fail_on_severities=["critical"],
        fail_on_gate=False,
        poll_interval=0.2,
        report_path=f"file://{folder}",
        **kwargs,
    )


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def assert_self_contained(page: str) -> None:
    """Parsed as a browser would: no script, no element or attribute that fetches or runs anything,
    and a policy forbidding both."""
    parser = _Tags()
    parser.feed(page)
    names = {tag for tag, _ in parser.tags}
    assert names <= SAFE_TAGS, f"unexpected elements: {names - SAFE_TAGS}"
    for tag, attrs in parser.tags:
        for attr in attrs:
            assert attr in SAFE_ATTRIBUTES, f"<{tag} {attr}=...>"
    assert "url(" not in page.lower() and "@import" not in page.lower()
    assert parser.tags[3] == (
        "meta",
        {"http-equiv": "Content-Security-Policy", "content": "default-src 'none'; style-src 'unsafe-inline'"},
    )


SAFE_TAGS = {
    "html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "strong", "ul", "li", "dl", "dt",
    "dd", "table", "thead", "tbody", "tr", "th", "td", "svg", "rect", "text",
}  # fmt: skip
SAFE_ATTRIBUTES = {
    "lang", "charset", "http-equiv", "content", "class", "xmlns", "role", "width", "height", "x", "y",
    "fill", "text-anchor", "aria-label", "viewbox", "font-size", "rx", "data-category", "data-rate",
}  # fmt: skip


def test_report_path_keeps_every_failing_probe_and_vulnerability(
    modelred_emulator, modelred_connection, tmp_path
):
    ti = FakeTI()
    summary = _operator("llama-weak", tmp_path / "run-1").execute(make_context(ti=ti))
    assert summary["gate"]["passed"] is False

    written = ti.xcom[XCOM_REPORT]
    assert written == {
        "json": f"file://{tmp_path}/run-1/report.json",
        "html": f"file://{tmp_path}/run-1/report.html",
    }
    document = json.loads((tmp_path / "run-1" / "report.json").read_text())
    with ModelRedHook() as hook:
        report = hook.get_assessment(summary["assessment_id"]).report
    assert document["format"] == "modelred-report/1" and document["summary"] == summary
    assert [p["key"] for p in document["failing_probes"]] == summary["failing_probes"] != []
    assert len(document["probes"]) == len(report.probes)
    assert len(document["vulnerabilities"]) == len(report.vulnerabilities) > 0

    page = (tmp_path / "run-1" / "report.html").read_text()
    assert_self_contained(page)
    assert "<svg" in page and "FAILED" in page and f"{summary['score']:g}" in page
    for probe in document["failing_probes"]:
        assert f"<td>{probe['key']}</td>" in page
    for category in summary["pass_rate_by_category"]:
        assert category in page
    for reason in summary["gate"]["reasons"]:
        assert html.escape(reason) in page


def test_a_failed_assessment_is_kept_escaped_and_without_the_key(
    modelred_emulator, modelred_connection, tmp_path
):
    ti = FakeTI()
    with pytest.raises(ModelRedAssessmentFailedError):
        _operator("broken-endpoint", tmp_path).execute(make_context(ti=ti))
    page = (tmp_path / "report.html").read_text()
    assert_self_contained(page)
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page and "&amp; &quot;quoted&quot;" in page
    document = json.loads((tmp_path / "report.json").read_text())
    assert HOSTILE in document["summary"]["error"]
    for path in tmp_path.iterdir():  # the grep: the key, or its secret part, in no file
        text = path.read_text()
        assert modelred_emulator.api_key not in text and modelred_emulator.api_key[3:] not in text, path


def test_the_report_operator_keeps_an_assessment_launched_elsewhere(
    modelred_emulator, modelred_connection, tmp_path
):
    with ModelRedHook() as hook:
        started = hook.create_assessment("claude-safe", test_types=["dan_classic", "reverse_psychology"])
        running = ModelRedAssessmentReportOperator(
            task_id="report", assessment_id=started.id, report_path=f"file://{tmp_path}/early"
        )
        with pytest.raises(ModelRedAssessmentError, match="has no final report yet"):
            running.execute(make_context())
        assert not (tmp_path / "early").exists()
        hook.wait_for_assessment(started.id, poll_interval=0.2, timeout=30)

    written = ModelRedAssessmentReportOperator(
        task_id="report", assessment_id=started.id, report_path=f"file://{tmp_path}/done"
    ).execute(make_context())
    assert written["html"] == f"file://{tmp_path}/done/report.html"
    document = json.loads((tmp_path / "done" / "report.json").read_text())
    assert document["summary"]["model"] == "claude-safe" and document["summary"]["status"] == "COMPLETED"
    assert document["summary"]["gate"] is None
    assert_self_contained((tmp_path / "done" / "report.html").read_text())


def test_report_path_is_refused_without_waiting(tmp_path):
    with pytest.raises(ValueError, match="report_path needs wait_for_completion=True"):
        ModelRedAssessmentOperator(
            task_id="assess",
            model="m",
            test_types=["dan_classic"],
            wait_for_completion=False,
            report_path="file:///x",
        )
    with pytest.raises(ValueError, match="report_path is required"):
        ModelRedAssessmentReportOperator(task_id="r", assessment_id="a", report_path=" ")
