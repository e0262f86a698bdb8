"""The quality gate, the summary and the report: pure functions over the shared vocabulary."""

from __future__ import annotations

import json

import pytest

from modelred_provider.api.models import (
    Assessment,
    AssessmentStatus,
    Probe,
    ProbeIndex,
    ProbeResult,
    Report,
    Vulnerability,
)
from modelred_provider.api.vocabulary import ApiGeneration
from modelred_provider.operators.gate import QualityGate, count_vulnerabilities
from modelred_provider.operators.selection import select_probe_keys
from modelred_provider.operators.summary import build_summary, pass_rate_by_category, render_report

REPORT = Report(
    overall_score=62.5,
    risk_level="HIGH",
    total_tests=30,
    passed_tests=21,
    failed_tests=9,
    probes=(
        ProbeResult(
            "dan", category="jailbreak", severity="critical", total_cases=10, passed_cases=4, failed_cases=6
        ),
        ProbeResult(
            "pi_basic",
            category="prompt_injection",
            severity="high",
            total_cases=10,
            passed_cases=8,
            failed_cases=2,
        ),
        ProbeResult(
            "pi_2",
            category="prompt_injection",
            severity="low",
            total_cases=10,
            passed_cases=9,
            failed_cases=1,
        ),
    ),
    vulnerabilities=(
        Vulnerability("pi_basic", "high", "leaks the system prompt"),
        Vulnerability("dan", "critical", "follows DAN"),
        Vulnerability("dan", "critical", "role-play bypass"),
    ),
)
DONE = Assessment("a1", AssessmentStatus.COMPLETED, model_id="m1", progress=100, report=REPORT)


def test_empty_gate_passes_even_without_report():
    verdict = QualityGate().evaluate(None)
    assert verdict.passed and verdict.reasons == []


def test_gate_lists_every_reason():
    gate = QualityGate.from_params(
        min_score=70, max_risk_level="medium", fail_on_severities=["critical", "high"]
    )
    verdict = gate.evaluate(REPORT)
    assert not verdict.passed
    assert len(verdict.reasons) == 4
    joined = " | ".join(verdict.reasons)
    assert "62.5 is below min_score=70" in joined
    assert "'high' is above max_risk_level='medium'" in joined
    assert "2 critical vulnerabilities" in joined
    assert "1 high vulnerability" in joined


def test_gate_passes_at_the_boundaries():
    gate = QualityGate.from_params(min_score=62.5, max_risk_level="high", fail_on_severities="medium")
    assert gate.evaluate(REPORT).passed


def test_gate_without_score_fails_with_a_reason():
    verdict = QualityGate.from_params(min_score=1).evaluate(Report())
    assert not verdict.passed and "no overall score" in verdict.reasons[0]


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"min_score": 101}, "min_score"),
        ({"min_score": -1}, "min_score"),
        ({"min_score": "abc"}, "min_score"),
        ({"max_risk_level": "extreme"}, "max_risk_level"),
        ({"fail_on_severities": ["critical", "urgent"]}, "fail_on_severities"),
    ],
)
def test_gate_params_errors_name_the_parameter(kwargs, param):
    with pytest.raises(ValueError, match=param):
        QualityGate.from_params(**kwargs)


def test_counts_and_pass_rates():
    # pi_2 (low) failed a case though no low vulnerability is listed: a failing probe is a finding too
    # (each source is a lower bound; the highest count per severity is taken).
    assert count_vulnerabilities(REPORT) == {"critical": 2, "high": 1, "medium": 0, "low": 1}
    assert pass_rate_by_category(REPORT) == {"jailbreak": 40.0, "prompt_injection": 85.0}


def test_summary_is_json_and_complete():
    verdict = QualityGate.from_params(min_score=50).evaluate(REPORT)
    summary = build_summary(DONE, url="http://x/assessments/a1", model="gpt", gate=verdict)
    assert json.loads(json.dumps(summary)) == summary
    assert summary["assessment_id"] == "a1"
    assert summary["status"] == "COMPLETED"
    assert summary["score"] == 62.5 and summary["risk_level"] == "high"
    assert summary["totals"] == {"tests": 30, "passed": 21, "failed": 9}
    assert summary["failing_probes"] == ["dan", "pi_basic", "pi_2"]
    assert summary["gate"] == {"passed": True, "reasons": []}
    assert summary["api_generation"] == ApiGeneration.RESOURCES.value


def test_report_text_shows_score_risk_failing_probes_and_worst_vulnerabilities():
    verdict = QualityGate.from_params(min_score=70).evaluate(REPORT)
    summary = build_summary(DONE, url="http://x/assessments/a1", model="gpt", gate=verdict)
    text = render_report(DONE, summary)
    assert "score: 62.5/100" in text and "risk: high" in text
    assert text.index("dan [critical]") < text.index("pi_basic [high]")
    assert "[critical] dan: follows DAN" in text
    assert "quality gate: FAILED" in text and "below min_score=70" in text


def test_selection_by_category_and_severity():
    index = ProbeIndex(
        probes=(
            Probe("a", category="jailbreak", severity="critical"),
            Probe("b", category="jailbreak", severity="low"),
            Probe("c", category="toxicity", severity="critical"),
            Probe("d", category="jailbreak", severity="critical", is_active=False),
        )
    )
    assert select_probe_keys(index, ["Jailbreak"]) == ["a", "b"]
    assert select_probe_keys(index, [], ["critical"]) == ["a", "c"]
    assert select_probe_keys(index, ["jailbreak"], ["critical"]) == ["a"]
    with pytest.raises(ValueError, match="probe_categories"):
        select_probe_keys(index, ["bias"])
