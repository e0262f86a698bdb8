"""The regression gate (max_score_drop, fail_on_new_critical, the baseline) and fail_on_gate=False:
the pure rules, then the operator against the emulator over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from modelred_provider.api.models import Assessment, AssessmentStatus, ProbeResult, Report, Vulnerability
from modelred_provider.exceptions import ModelRedQualityGateError
from modelred_provider.operators.assessment import ModelRedAssessmentOperator
from modelred_provider.operators.gate import BASELINE_EXPLICIT, BASELINE_LATEST, RegressionGate, pick_baseline
from tests.task_context import make_context

pytestmark = pytest.mark.modelred_emulator(assessment_seconds=0.5)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
KEYS = ("dan_classic", "reverse_psychology", "data_leakage_01")


def _a(aid: str, minutes: int, *, model: str = "mdl_1", status=AssessmentStatus.COMPLETED, keys=KEYS, **kw):
    return Assessment(
        aid, status, model_id=model, test_types=keys, created_at=T0 + timedelta(minutes=minutes), **kw
    )


def test_baseline_is_the_newest_earlier_completed_run_of_the_same_model_and_probes():
    current = _a("now", 10)
    listed = [
        _a("later", 11),  # after this one
        _a("running", 9, status=AssessmentStatus.RUNNING),
        _a("other-model", 8, model="mdl_2"),
        _a("other-probes", 7, keys=("dan_classic",)),
        Assessment("no-date", AssessmentStatus.COMPLETED, "mdl_1", test_types=KEYS),  # when: unknown
        _a("good-old", 2),
        _a("good", 5, keys=tuple(reversed(KEYS))),  # the same set, another order
        current,
    ]
    assert pick_baseline(current, listed).id == "good"
    assert pick_baseline(current, [current, listed[0]]) is None
    # A run whose own creation time is unknown has no "before": no baseline rather than a guess.
    assert (
        pick_baseline(Assessment("x", AssessmentStatus.COMPLETED, "mdl_1", test_types=KEYS), listed) is None
    )


def _report(score, *, critical=(), unknown=()):
    probes = tuple(
        ProbeResult(k, severity="critical", total_cases=4, passed_cases=2, failed_cases=2) for k in critical
    )
    vulns = tuple(Vulnerability(k, "Severe?!", "unknown severity") for k in unknown)
    return Report(overall_score=score, risk_level="low", probes=probes, vulnerabilities=vulns)


def test_score_drop_and_new_critical_findings():
    base = _a("b", 1, report=_report(90, critical=("dan",)))
    gate = RegressionGate.from_params(max_score_drop=5, fail_on_new_critical=True)
    ok, info = gate.evaluate(_report(86, critical=("dan",)), base, missing="-", chosen=BASELINE_LATEST)
    assert ok.passed and info["score_drop"] == 4 and info["new_critical"] == []
    assert info["assessment_id"] == "b" and info["chosen"] == BASELINE_LATEST and info["score"] == 90
    bad, info = gate.evaluate(_report(80, critical=("dan", "pi")), base, missing="-")
    assert not bad.passed and info["score_drop"] == 10 and info["new_critical"] == ["pi"]
    assert "dropped 10 points from the baseline's 90, more than max_score_drop=5" in bad.reasons[0]
    assert "pi" in bad.reasons[1]
    # Fail closed: an unknown severity could be critical, so it is new unless the baseline had it as critical.
    unknown, info = gate.evaluate(_report(90, critical=("dan",), unknown=("leak",)), base, missing="-")
    assert not unknown.passed and info["new_critical"] == ["leak"]


@pytest.mark.parametrize(
    ("report", "baseline", "needle"),
    [
        (None, _a("b", 1, report=_report(90)), "this assessment's overall score None is not a score"),
        (_report(float("nan")), _a("b", 1, report=_report(90)), "nan"),
        (_report(90), _a("b", 1, report=_report(None)), "the baseline's overall score None"),
        (_report(90), _a("b", 1, status=AssessmentStatus.FAILED), "FAILED without a report"),
    ],
)
def test_the_regression_gate_fails_closed(report, baseline, needle):
    verdict, _ = RegressionGate.from_params(max_score_drop=50).evaluate(report, baseline, missing="-")
    assert not verdict.passed and needle in verdict.reasons[0]


@pytest.mark.parametrize("drop", [float("nan"), float("inf"), -1.0, 101.0])
def test_a_directly_built_gate_with_no_usable_max_drop_fails_closed(drop):
    # from_params refuses these; a gate built by hand must not let every drop through (drop > nan is False).
    verdict, _ = RegressionGate(max_score_drop=drop).evaluate(
        _report(10), _a("b", 1, report=_report(90)), missing="-"
    )
    assert not verdict.passed and verdict.reasons == [
        f"max_score_drop={drop!r} is not between 0 and 100, so the gate cannot pass"
    ]


def test_no_baseline_passes_with_a_note_unless_required():
    verdict, info = RegressionGate.from_params(max_score_drop=5).evaluate(
        _report(1), None, missing="none found"
    )
    assert verdict.passed and "none found" in info["note"] and "not applied" in info["note"]
    verdict, info = RegressionGate.from_params(max_score_drop=5, require_baseline=True).evaluate(
        _report(99), None, missing="none found"
    )
    assert not verdict.passed and verdict.reasons == ["none found, and require_baseline=True"]


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"max_score_drop": -1}, "max_score_drop=-1"),
        ({"max_score_drop": "a lot"}, "max_score_drop='a lot'"),
        ({"fail_on_new_critical": "yes"}, "fail_on_new_critical='yes'"),
        ({"require_baseline": 1}, "require_baseline=1"),
        ({"fail_on_gate": "false"}, "fail_on_gate='false'"),
        ({"baseline_assessment_id": " "}, "baseline_assessment_id=' '"),
        ({"max_score_drop": 5, "wait_for_completion": False}, "max_score_drop need"),
    ],
)
def test_bad_regression_parameters_fail_at_parse(kwargs, needle):
    with pytest.raises(ValueError) as info:
        ModelRedAssessmentOperator(task_id="t", model="m", test_types=["dan"], **kwargs)
    assert needle in str(info.value)


# --- over HTTP, against the emulator -----------------------------------------------------------


def _run(conn_id: str, **kwargs):
    kwargs.setdefault("model", "gpt-4o-prod")
    kwargs.setdefault("test_types", list(KEYS))
    op = ModelRedAssessmentOperator(
        task_id="assess", modelred_conn_id=conn_id, poll_interval=0.1, timeout=30, **kwargs
    )
    context = make_context()
    try:
        return op.execute(context), context
    except ModelRedQualityGateError as error:
        return error, context


def _score(emulator, score: float) -> None:
    emulator.set_scenario({"models": {"gpt-4o-prod": {"outcome": "pass", "score": score}}})


def test_a_score_drop_against_the_previous_run_fails_and_the_summary_names_the_baseline(
    modelred_emulator, modelred_connection
):
    _score(modelred_emulator, 92)
    first, _ = _run(modelred_connection, max_score_drop=5)
    assert first["gate"]["passed"] and first["baseline"]["assessment_id"] is None
    assert "no earlier COMPLETED assessment of model gpt-4o-prod" in first["baseline"]["note"]
    _score(modelred_emulator, 89)
    second, _ = _run(modelred_connection, max_score_drop=5)
    assert second["gate"]["passed"]
    assert second["baseline"]["assessment_id"] == first["assessment_id"]
    assert second["baseline"]["chosen"] == BASELINE_LATEST and second["baseline"]["score_drop"] == 3
    _score(modelred_emulator, 80)
    error, context = _run(modelred_connection, max_score_drop=5)
    assert isinstance(error, ModelRedQualityGateError)
    summary = context["ti"].xcom["assessment_summary"]
    assert summary["baseline"]["assessment_id"] == second["assessment_id"]  # the newest, not the first
    assert "dropped 9 points from the baseline's 89" in str(error)
    # Another probe set is another comparison: no baseline there.
    other, _ = _run(modelred_connection, max_score_drop=5, test_types=["dan_classic"])
    assert other["gate"]["passed"] and other["baseline"]["assessment_id"] is None


def test_branch_mode_returns_the_failing_verdict(modelred_emulator, modelred_connection):
    _score(modelred_emulator, 95)
    base, _ = _run(modelred_connection)
    _score(modelred_emulator, 70)
    summary, context = _run(
        modelred_connection,
        max_score_drop=10,
        baseline_assessment_id=base["assessment_id"],
        fail_on_gate=False,
    )
    assert isinstance(summary, dict) and summary["gate"]["passed"] is False
    assert summary["baseline"]["chosen"] == BASELINE_EXPLICIT and summary["baseline"]["score_drop"] == 25
    assert context["ti"].xcom["assessment_summary"] == summary


def test_required_or_unreadable_baselines_fail_closed(modelred_emulator, modelred_connection):
    error, _ = _run(modelred_connection, max_score_drop=5, require_baseline=True)
    assert isinstance(error, ModelRedQualityGateError) and "require_baseline=True" in str(error)
    error, _ = _run(modelred_connection, max_score_drop=5, baseline_assessment_id="asm_nope")
    assert isinstance(error, ModelRedQualityGateError) and "'asm_nope' was not found" in str(error)
    # The list fails (after the hook's own retries): the gate cannot decide, so the model does not pass.
    modelred_emulator.inject_fault("GET", "/api/assessments", kind="status", status=500, count=None)
    summary, _ = _run(modelred_connection, max_score_drop=5, fail_on_gate=False)
    assert summary["gate"]["passed"] is False
    assert "the baseline could not be read" in summary["gate"]["reasons"][0]
