"""Issue 9, item 2: the quality gate fails closed.

Whatever shape the server gives a report, a model that (read honestly) has a critical vulnerability,
or whose report lacks what a criterion needs, never passes: the parser reads every plausible shape,
records what it cannot read, and the gate turns each gap into a reason. Unit cases name the shapes
of the issue; Hypothesis properties cover the rest; the last tests run the real operator against a
hostile server over real HTTP.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelred_provider.api import parsing
from modelred_provider.api.models import Assessment, AssessmentStatus, Report
from modelred_provider.api.vocabulary import SEVERITIES
from modelred_provider.operators.gate import QualityGate, count_vulnerabilities
from modelred_provider.operators.summary import build_summary

KEY = "mr_s3cr3t_kEy_9f8e7d6c"
#: The part of the key after its public prefix: not even that may leak.
SECRET = KEY.removeprefix("mr_")
CRITICAL_GATE = QualityGate.from_params(fail_on_severities=["critical"])


def _wire(report: Any) -> Report | None:
    """The report as the operator gets it: JSON text from the server (NaN included), then the parser."""
    body = json.dumps({"data": {"id": "a1", "status": "COMPLETED", "report": report}}, allow_nan=True)
    obj = parsing.unwrap_object(json.loads(body), "an assessment", "get assessment")
    return parsing.parse_assessment(obj).report


def _verdict(report: Any, gate: QualityGate = CRITICAL_GATE):
    return gate.evaluate(_wire(report))


CLEAN = {
    "overall_score": 91,
    "risk_level": "low",
    "probes": [
        {"key": "dan", "severity": "critical", "total_cases": 10, "passed_cases": 10, "failed_cases": 0}
    ],
    "vulnerabilities": [{"probe": "pi", "severity": "low", "description": "minor"}],
}


# --------------------------------------------------------------------------- the shapes of the issue


def test_a_clean_report_passes_every_criterion():
    # The control: the gate is not simply failing everything.
    gate = QualityGate.from_params(
        min_score=90, max_risk_level="low", fail_on_severities=["critical", "high"]
    )
    assert _verdict(CLEAN, gate).passed


def test_no_report_fails_every_criterion_saying_so():
    gate = QualityGate.from_params(min_score=10, max_risk_level="critical", fail_on_severities=["critical"])
    report: object
    for report in (None, "done", [], 42):  # absent, or not an object
        verdict = _verdict(report, gate)
        assert not verdict.passed
        assert len(verdict.reasons) == 3
        assert all("no report" in reason for reason in verdict.reasons)


@pytest.mark.parametrize(
    ("vulnerabilities", "needle"),
    [
        ({"critical": 2}, "2 critical vulnerabilities found"),
        ({"Critical ": 1, "high": 0}, "1 critical vulnerability found"),
        ({"critical": "2"}, "2 critical vulnerabilities found"),
        ({"critical": [{"probe": "dan"}, {"probe": "aim"}]}, "2 critical vulnerabilities found"),
        ([{"probe": "dan", "severity": "Critical "}], "1 critical vulnerability found"),
        ([{"probe": "dan", "severity": "CRITICAL"}], "1 critical vulnerability found"),
        ([{"probe": "dan", "severity_level": "critical"}], "1 critical vulnerability found"),
        (["critical", "low"], "1 critical vulnerability found"),
        ({"dan": {"severity": "critical", "failures": 3}}, "1 critical vulnerability found"),
        ({"probe": "dan", "severity": "critical"}, "1 critical vulnerability found"),  # one object alone
    ],
)
def test_critical_vulnerabilities_in_any_plausible_shape_fail(vulnerabilities, needle):
    verdict = _verdict({**CLEAN, "vulnerabilities": vulnerabilities})
    assert not verdict.passed
    assert needle in " | ".join(verdict.reasons)


@pytest.mark.parametrize(
    ("report", "needle"),
    [
        ({"overall_score": 90}, "the report has no 'vulnerabilities'"),
        ({**CLEAN, "vulnerabilities": None}, "'vulnerabilities' is null"),
        ({**CLEAN, "vulnerabilities": "none found"}, "'vulnerabilities' is a str"),
        ({**CLEAN, "vulnerabilities": 0}, "'vulnerabilities' is a int"),
        ({**CLEAN, "vulnerabilities": {"critical": "many"}}, "is not a count ('many')"),
        ({**CLEAN, "vulnerabilities": {"critical": -1}}, "is not a count (-1)"),
        ({**CLEAN, "vulnerabilities": {"critical": None}}, "is not a count (None)"),
        ({**CLEAN, "vulnerabilities": {"critical": 1.5}}, "is not a count (1.5)"),
        ({**CLEAN, "vulnerabilities": {"critical": True}}, "is not a count (True)"),
        ({**CLEAN, "vulnerabilities": {"critical": "²"}}, "is not a count ('²')"),  # isdigit(), not int()
        ({**CLEAN, "vulnerabilities": {"critical": "9" * 5000}}, "is not a count ("),  # past int()'s digits
        ({**CLEAN, "critical_issues": "n/a"}, "'critical_issues' is not a count"),
    ],
)
def test_vulnerabilities_that_cannot_be_counted_fail_saying_why(report, needle):
    verdict = _verdict(report)
    assert not verdict.passed
    (reason,) = verdict.reasons
    assert "cannot be counted" in reason and needle in reason
    assert "fail_on_severities=['critical'] cannot be checked" in reason


def test_nan_count_is_not_a_count():
    verdict = _verdict({**CLEAN, "vulnerabilities": {"critical": math.nan}})
    assert not verdict.passed and "is not a count (nan)" in verdict.reasons[0]


@pytest.mark.parametrize(
    "vulnerabilities",
    [
        ["prompt leak via base64"],  # a list of strings that are not severities
        [{"probe": "dan", "severity": "urgent"}],
        [{"probe": "dan"}],  # no severity at all
        [None],
        [7],
        {"severe": 3},
    ],
)
def test_an_unknown_severity_fails_any_severity_gate(vulnerabilities):
    report = {**CLEAN, "vulnerabilities": vulnerabilities}
    for severities in (["critical"], ["low"], ["high", "medium"]):
        verdict = _verdict(report, QualityGate.from_params(fail_on_severities=severities))
        assert not verdict.passed
        assert "unknown severity" in verdict.reasons[0] and "could be any severity" in verdict.reasons[0]


def test_failing_probes_count_when_the_list_leaves_them_out():
    report = {
        **CLEAN,
        "probes": [{"key": "dan", "severity": "Critical", "total_cases": 10, "failed_cases": 4}],
        "vulnerabilities": [],
    }
    verdict = _verdict(report)
    assert not verdict.passed and "1 critical vulnerability found" in verdict.reasons[0]
    # A failing probe without a severity could be critical.
    report["probes"] = [{"key": "dan", "total_cases": 10, "failed_cases": 4}]
    assert "unknown severity" in _verdict(report).reasons[0]


def test_issue_counts_alone_are_enough_to_count():
    counts = {
        "critical_issues": 0,
        "high_severity_issues": 0,
        "medium_severity_issues": 2,
        "low_severity_issues": 0,
    }
    assert _verdict({"overall_score": 90, **counts}).passed
    verdict = _verdict({"overall_score": 90, **counts, "criticalIssues": 5, "critical_issues": 1})
    assert not verdict.passed and "1 critical vulnerability" in verdict.reasons[0]
    # Only some of them: the rest cannot be counted.
    verdict = _verdict({"overall_score": 90, "critical_issues": 0})
    assert not verdict.passed and "no 'vulnerabilities'" in verdict.reasons[0]


def test_sources_disagreeing_take_the_highest_count():
    report = {**CLEAN, "critical_issues": 3, "vulnerabilities": [{"severity": "critical"}]}
    assert "3 critical vulnerabilities found" in _verdict(report).reasons[0]


def test_a_zero_count_row_is_no_vulnerability():
    report = {**CLEAN, "vulnerabilities": [{"probe": "dan", "severity": "critical", "failures": 0}]}
    assert _verdict(report).passed


@pytest.mark.parametrize(
    ("score", "needle"),
    [
        (None, "no overall score reported"),
        ("abc", "no overall score reported"),
        ("85%", "no overall score reported"),
        (math.nan, "no overall score reported"),
        (math.inf, "no overall score reported"),
        (True, "no overall score reported"),
        ([90], "no overall score reported"),
        (10**400, "no overall score reported"),  # too large for a float: unreadable, not a crash
        (150, "outside 0..100"),
        (-5, "outside 0..100"),
        (69.99, "below min_score=70"),
    ],
)
def test_min_score_fails_closed(score, needle):
    verdict = _verdict({**CLEAN, "overall_score": score}, QualityGate.from_params(min_score=70))
    assert not verdict.passed and needle in verdict.reasons[0]


def test_min_score_fails_closed_on_a_report_built_in_code():
    # The gate does not rely on the parser alone: NaN or a string handed to it directly fails too.
    gate = QualityGate.from_params(min_score=70)
    for score in (math.nan, math.inf, "95", 10**400):
        assert not gate.evaluate(Report(overall_score=score)).passed
    assert not QualityGate(min_score=math.nan).evaluate(Report(overall_score=99)).passed


@pytest.mark.parametrize("risk", ["High", " high", "HIGH\n", "high ", "  High  "])
def test_risk_level_spellings_are_normalised(risk):
    assert _verdict({**CLEAN, "risk_level": risk}, QualityGate.from_params(max_risk_level="high")).passed
    verdict = _verdict({**CLEAN, "risk_level": risk}, QualityGate.from_params(max_risk_level="Medium "))
    assert not verdict.passed and "'high' is above max_risk_level='medium'" in verdict.reasons[0]


@pytest.mark.parametrize(
    ("risk", "needle"),
    [
        (None, "no risk level reported"),
        ("", "no risk level reported"),
        ("   ", "no risk level reported"),
        (["low"], "no risk level reported"),
        ("very high", "'very high' is not a known level"),
        ("severe", "'severe' is not a known level"),
        ("lowest", "'lowest' is not a known level"),
        (3, "'3' is not a known level"),
    ],
)
def test_max_risk_level_fails_closed(risk, needle):
    verdict = _verdict({**CLEAN, "risk_level": risk}, QualityGate.from_params(max_risk_level="critical"))
    assert not verdict.passed and needle in verdict.reasons[0]


def test_one_normalisation_for_parser_gate_and_summary():
    report = _wire({**CLEAN, "risk_level": " HIGH ", "vulnerabilities": [{"severity": "Critical "}, "High"]})
    assert report is not None and report.risk_level == "high"
    assert [v.severity for v in report.vulnerabilities] == ["critical", "high"]
    done = Assessment("a1", AssessmentStatus.COMPLETED, report=report)
    summary = build_summary(done, url=None, model="m", gate=CRITICAL_GATE.evaluate(report))
    assert summary["risk_level"] == "high"
    assert summary["vulnerabilities_by_severity"] == {"critical": 1, "high": 1, "medium": 0, "low": 0}
    assert summary["vulnerabilities_unknown"] is None
    missing = _wire({"overall_score": 90})
    summary = build_summary(
        Assessment("a1", AssessmentStatus.COMPLETED, report=missing), url=None, model="m", gate=None
    )
    assert summary["vulnerabilities_unknown"] == "the report has no 'vulnerabilities'"


# --------------------------------------------------------------------------- properties


# Spellings a server might use for a severity or a risk level: case and whitespace do not count.
def _spelled(level: str) -> st.SearchStrategy[str]:
    return st.tuples(
        st.sampled_from(["", " ", "  ", "\t", "\n"]),
        st.sampled_from([level, level.upper(), level.capitalize(), level.title().swapcase()]),
        st.sampled_from(["", " ", "  ", "\t", "\n"]),
    ).map("".join)


known_spelling = st.sampled_from(SEVERITIES).flatmap(lambda s: _spelled(s).map(lambda t: (s, t)))
unknown_severity = st.one_of(
    st.none(),
    st.sampled_from(["urgent", "severe", "crit", "info", "very high", "", "critical!", "hi gh", "CRITICAL_"]),
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
)
noise = st.dictionaries(
    st.sampled_from(["description", "recommendation", "probe", "extra", "id", "findings"]),
    st.one_of(st.none(), st.text(max_size=10), st.integers(), st.lists(st.integers(), max_size=2)),
    max_size=3,
)


@st.composite
def vulnerability_reports(draw) -> tuple[dict[str, Any], bool]:
    """A report in one of the plausible shapes, and whether read honestly it has a critical
    vulnerability, an unknown severity or no readable count (any of which must fail the gate)."""
    shape = draw(
        st.sampled_from(["objects", "strings", "counts", "per_probe", "issues", "absent", "null", "junk"])
    )
    entries = draw(
        st.lists(
            st.one_of(known_spelling.map(lambda p: (True, p)), unknown_severity.map(lambda u: (False, u))),
            max_size=6,
        )
    )
    # A critical one, or one of unknown severity (it could be critical).
    must_fail = any(not known or pair[0] == "critical" for known, pair in entries)
    report: dict[str, Any] = {"overall_score": 90, "risk_level": "low"}
    if shape == "objects":
        report["vulnerabilities"] = [
            {**draw(noise), "severity": pair[1] if known else pair} for known, pair in entries
        ]
    elif shape == "strings":
        report["vulnerabilities"] = [pair[1] if known else pair for known, pair in entries]
        # An unknown item of another type (None, a number) is an unreadable vulnerability: still a fail.
    elif shape == "counts":
        counts: dict[str, Any] = {}
        for known, pair in entries:
            key = pair[1] if known else str(pair)
            counts[key] = counts.get(key, 0) + 1
        report["vulnerabilities"] = counts
    elif shape == "per_probe":
        report["vulnerabilities"] = {
            f"probe_{i}": {
                **draw(noise),
                "severity": pair[1] if known else pair,
                "failures": draw(st.integers(1, 9)),
            }
            for i, (known, pair) in enumerate(entries)
        }
    elif shape == "issues":
        ns = draw(st.fixed_dictionaries({s: st.integers(0, 3) for s in SEVERITIES}))
        report.update(
            critical_issues=ns["critical"],
            high_severity_issues=ns["high"],
            medium_severity_issues=ns["medium"],
            low_severity_issues=ns["low"],
        )
        must_fail = ns["critical"] > 0
    elif shape == "absent":
        must_fail = True
    elif shape == "null":
        report["vulnerabilities"] = None
        must_fail = True
    else:
        report["vulnerabilities"] = draw(
            st.one_of(st.text(max_size=8), st.integers(), st.floats(), st.booleans())
        )
        must_fail = True
    if draw(st.booleans()):  # failing probes, which count as findings of their severity
        probes = draw(st.lists(st.tuples(known_spelling, st.integers(0, 3)), max_size=3))
        report["probes"] = [
            {"key": f"p{i}", "severity": spelled, "total_cases": 5, "failed_cases": failed}
            for i, ((level, spelled), failed) in enumerate(probes)
        ]
        must_fail = must_fail or any(level == "critical" and failed for (level, _), failed in probes)
    return report, must_fail


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(vulnerability_reports())
def test_no_report_shape_lets_a_critical_or_unreadable_model_pass(case):
    report, must_fail = case
    verdict = _verdict(report)
    if must_fail:
        assert not verdict.passed, report
        assert verdict.reasons  # and says why
    else:
        # The control: an honest report with no critical finding and nothing unknown does pass.
        assert verdict.passed, (report, verdict.reasons)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([10**400, -(10**400), 2**63])
    | st.floats(allow_nan=True)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(
    junk=json_values,
    where=st.integers(0, 5),
    spelled=_spelled("critical"),
    as_object=st.booleans(),
)
def test_a_critical_vulnerability_among_any_junk_fails(junk, where, spelled, as_object):
    items = junk if isinstance(junk, list) else [junk]
    planted = {"probe": "dan", "severity": spelled} if as_object else spelled
    items = [*items[:where], planted, *items[where:]]
    verdict = _verdict({**CLEAN, "vulnerabilities": items})
    assert not verdict.passed
    assert any("critical vulnerabilit" in reason for reason in verdict.reasons)


@settings(max_examples=300, deadline=None)
@given(
    report=st.dictionaries(
        st.sampled_from(["overall_score", "risk_level", "probes", "x", "summary"]), json_values
    )
)
def test_a_report_without_readable_vulnerabilities_never_passes(report):
    # No 'vulnerabilities' and no *_issues counts: whatever else it holds, the gate cannot count.
    verdict = _verdict(report)
    assert not verdict.passed
    assert any("cannot be counted" in reason for reason in verdict.reasons)


@settings(max_examples=300, deadline=None)
@given(
    score=json_values | st.sampled_from(["85", " 90 ", "NaN", "Infinity", "-inf", "1e3", "0x50"]),
    bar=st.integers(0, 100),
)
def test_min_score_passes_only_a_real_score_at_or_above_the_bar(score, bar):
    verdict = _verdict({**CLEAN, "overall_score": score}, QualityGate.from_params(min_score=bar))
    try:
        number = (
            float(score) if isinstance(score, (int, float, str)) and not isinstance(score, bool) else None
        )
    except (ValueError, OverflowError):
        number = None
    honest = number is not None and math.isfinite(number) and bar <= number <= 100
    assert verdict.passed == honest, (score, bar, verdict.reasons)


@settings(max_examples=300, deadline=None)
@given(
    risk=st.one_of(
        st.sampled_from(["low", "medium", "high", "critical"]).flatmap(_spelled),
        json_values,
        st.sampled_from(["very high", "hi", "med", "severe", "none", "low-ish", "l o w"]),
    ),
    limit=st.sampled_from(["low", "medium", "high", "critical"]),
)
def test_max_risk_level_passes_only_a_known_level_at_or_below_the_limit(risk, limit):
    verdict = _verdict({**CLEAN, "risk_level": risk}, QualityGate.from_params(max_risk_level=limit))
    levels = ["low", "medium", "high", "critical"]
    spelled = " ".join(risk.split()).lower() if isinstance(risk, str) else None
    honest = spelled in levels and levels.index(spelled) <= levels.index(limit)
    assert verdict.passed == honest, (risk, limit, verdict.reasons)


def test_counts_never_lose_an_unknown_severity():
    report = _wire({**CLEAN, "vulnerabilities": [{"severity": "urgent"}, {"severity": "critical"}]})
    assert count_vulnerabilities(report) == {"critical": 1, "high": 0, "medium": 0, "low": 0, "unknown": 1}


# --------------------------------------------------------------------------- the operator, over real HTTP


def task_context() -> dict[str, Any]:
    """What ``execute`` needs of a task runner: the suite's one stand-in (tests/operators)."""
    from tests.task_context import make_context

    return make_context()


def _gate_operator(monkeypatch: pytest.MonkeyPatch, origin: str) -> Any:
    """The operator both over-HTTP gate tests run: every criterion set, waiting in process."""
    from modelred_provider.operators.assessment import ModelRedAssessmentOperator

    return ModelRedAssessmentOperator(
        task_id="gate",
        modelred_conn_id=set_connection(monkeypatch, origin),
        model="gpt-4o-prod",
        test_types=["dan"],
        deferrable=False,
        poll_interval=0.1,
        timeout=10,
        min_score=50,
        max_risk_level="high",
        fail_on_severities=["critical"],
    )


def hostile_server_script(assessment: dict[str, Any]):
    """A server that launches ``assessment`` and then answers it to every GET: the hook's list before
    the launch, the POST and the polls are told apart by path (routes match by prefix, in order)."""
    from tests.hook.servers import Script

    body = json.dumps({"data": assessment}, allow_nan=True).encode()
    return Script(
        routes={
            "/api/assessments?": (200, b'{"data": []}', {}),
            "/api/assessments/": (200, body, {}),
            "/api/assessments": (201, body, {}),
        }
    )


def set_connection(monkeypatch: pytest.MonkeyPatch, origin: str, conn_id: str = "modelred_hostile") -> str:
    conn = {
        "conn_type": "modelred",
        "host": origin,
        "password": KEY,
        "extra": {"retry_backoff": 0.01, "retry_max_wait": 1, "timeout": 5, "max_retries": 1},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn_id


@pytest.mark.parametrize(
    ("report", "needles"),
    [
        (None, ["no report"]),
        ({"overall_score": 97, "risk_level": "low"}, ["no 'vulnerabilities'", "cannot be checked"]),
        ({**CLEAN, "vulnerabilities": {"critical": 2}}, ["2 critical vulnerabilities found"]),
        (
            {**CLEAN, "vulnerabilities": [{"probe": "dan", "severity": "Critical "}]},
            ["1 critical vulnerability"],
        ),
        ({**CLEAN, "vulnerabilities": ["leaks the system prompt"]}, ["unknown severity"]),
        ({**CLEAN, "vulnerabilities": None}, ["'vulnerabilities' is null"]),
        ({**CLEAN, "overall_score": "NaN"}, ["no overall score reported"]),
        ({**CLEAN, "risk_level": "very high"}, ["'very high' is not a known level"]),
    ],
    ids=[
        "no-report",
        "no-vulnerabilities",
        "count-map",
        "spelling",
        "strings",
        "null",
        "nan-score",
        "odd-risk",
    ],
)
def test_operator_fails_the_task_when_the_report_cannot_show_the_model_is_safe(
    monkeypatch, capfd, caplog, report, needles
):
    from modelred_provider.exceptions import ModelRedQualityGateError
    from tests.hook.servers import scripted_server

    script = hostile_server_script({"id": "a1", "status": "COMPLETED", "progress": 100, "report": report})
    with scripted_server(script) as origin:
        op = _gate_operator(monkeypatch, origin)
        context = task_context()
        with pytest.raises(ModelRedQualityGateError) as info:
            op.execute(context)
    reasons = " | ".join(info.value.reasons)
    for needle in needles:
        assert needle in reasons
    assert "did not pass the ModelRed quality gate" in str(info.value)
    summary = context["ti"].xcom["assessment_summary"]
    assert summary["gate"] == {"passed": False, "reasons": info.value.reasons}
    # The key went to the server (it is the real hook) and nowhere else.
    assert any(r.get("authorization") == f"Bearer {KEY}" for r in script.received)
    captured = capfd.readouterr()
    for text in (captured.out + captured.err, caplog.text, str(info.value), json.dumps(summary)):
        assert SECRET not in text


def test_operator_passes_an_honest_clean_report_over_http(monkeypatch):
    # The control for the test above: the same path passes a report that shows the model is safe.
    from tests.hook.servers import scripted_server

    script = hostile_server_script({"id": "a1", "status": "COMPLETED", "progress": 100, "report": CLEAN})
    with scripted_server(script) as origin:
        op = _gate_operator(monkeypatch, origin)
        summary = op.execute(task_context())
    assert summary["gate"] == {"passed": True, "reasons": []}
