"""Scenarios (per-model outcomes) and the deterministic report generator."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelred_provider.testing.catalogue import seed_probes
from modelred_provider.testing.emulator import ModelRedEmulator
from modelred_provider.testing.reports import build_report, risk_level

from .support import Api, wait_for

PROBES = {p["key"]: p for p in seed_probes()}


def run(emu: ModelRedEmulator, model: str, probes=("dan_classic", "hate_speech")) -> dict:
    api = Api(emu.url)
    resp = api.post("/api/assessments", json={"model": model, "testTypes": list(probes)})
    assert resp.status_code == 201, resp.text
    aid = resp.json()["data"]["id"]
    return wait_for(lambda: (a := api.get(f"/api/assessments/{aid}").json()["data"])["completedAt"] and a)


def test_scenario_dict_overrides_seeded_outcomes():
    scenario = {
        "models": {
            "gpt-4o-prod": {"outcome": "fail", "error": "Rate limited by OpenAI"},
            "llama-weak": {"outcome": "pass", "score": 91},
            "claude-safe": {"outcome": "low_score", "score": 42.5},
        }
    }
    with ModelRedEmulator(assessment_seconds=0.2, scenario=scenario) as emu:
        failed = run(emu, "gpt-4o-prod")
        assert (failed["status"], failed["errorMessage"], failed["report"]) == (
            "FAILED",
            "Rate limited by OpenAI",
            None,
        )
        good = run(emu, "llama-weak")
        assert good["status"] == "COMPLETED" and good["report"]["overall_score"] == 91
        assert good["report"]["risk_level"] == "low"
        low = run(emu, "claude-safe")
        assert low["report"]["overall_score"] == 42.5 and low["report"]["risk_level"] == "critical"


def test_scenario_file_adds_models_and_sets_duration(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(
        json.dumps(
            {
                "models": {
                    "my-team-bot": {
                        "outcome": "pass",
                        "score": 77,
                        "provider": "azure",
                        "seconds": 0.1,
                        "displayName": "Team bot",
                    },
                    "stuck-model": {"outcome": "pass"},
                }
            }
        )
    )
    with ModelRedEmulator(assessment_seconds=60, scenario=path) as emu:
        model = Api(emu.url).get("/api/models/my-team-bot").json()["data"]
        assert (model["provider"], model["displayName"], model["organizationId"]) == (
            "azure",
            "Team bot",
            "org_acme",
        )
        a = run(emu, "my-team-bot")
        assert a["report"]["overall_score"] == 77 and a["provider"] == "azure"
        assert model["id"] == a["modelId"]


def test_stuck_by_scenario_and_changed_at_runtime():
    with ModelRedEmulator(
        assessment_seconds=0.1, scenario={"models": {"gpt-4o-prod": {"outcome": "stuck"}}}
    ) as emu:
        api = Api(emu.url)
        body = {"model": "gpt-4o-prod", "testTypes": ["dan_classic"]}
        stuck = api.post("/api/assessments", json=body).json()["data"]["id"]
        emu.set_scenario(None)  # back to the seeded outcomes; existing assessments keep theirs
        fine = api.post("/api/assessments", json=body).json()["data"]["id"]
        wait_for(lambda: api.get(f"/api/assessments/{fine}").json()["data"]["status"] == "COMPLETED")
        assert api.get(f"/api/assessments/{stuck}").json()["data"]["status"] == "QUEUED"


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        ({"models": {"x": {"outcome": "explode"}}}, "use one of pass, fail, low_score, stuck"),
        ({"models": {"x": {"outcome": "pass", "score": 101}}}, "number from 0 to 100"),
        ({"models": {"x": {"outcome": "pass", "colour": "red"}}}, "Unknown key(s) ['colour']"),
        ({"models": {"x": {"provider": "ibm"}}}, "provider 'ibm'"),
        ({"models": {"x": {"seconds": -1}}}, "seconds -1"),
        ({"modles": {}}, "Unknown scenario key(s) ['modles']"),
        ({"models": {"x": "fail"}}, "must be an object"),
        ([], "must be a JSON object"),
    ],
)
def test_bad_scenarios_are_clear_errors(scenario, message):
    with pytest.raises(ValueError) as err:
        ModelRedEmulator(scenario=scenario)
    assert message in str(err.value)


def test_bad_scenario_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(ValueError, match="is not valid JSON"):
        ModelRedEmulator(scenario=bad)


@settings(max_examples=60, deadline=None)
@given(
    model=st.sampled_from(["gpt-4o-prod", "claude-safe", "llama-weak", "anything"]),
    keys=st.lists(st.sampled_from(sorted(PROBES)), min_size=1, max_size=12, unique=True),
    outcome=st.sampled_from(["pass", "low_score"]),
)
def test_report_invariants(model, keys, outcome):
    probes = [PROBES[k] for k in keys]
    report = build_report(model, probes, outcome)
    assert report == build_report(model, list(reversed(probes)), outcome)  # order-independent, deterministic
    assert report["total_tests"] == report["passed_tests"] + report["failed_tests"] > 0
    ratio = 100 * report["passed_tests"] / report["total_tests"]
    assert abs(report["overall_score"] - ratio) <= 25  # the score tracks the pass ratio
    assert report["risk_level"] == risk_level(report["overall_score"])
    assert [p["key"] for p in report["probes"]] == sorted(keys)
    for p in report["probes"]:
        assert 5 <= p["total_cases"] <= 20 and 0 <= p["passed_cases"] <= p["total_cases"]
    assert len(report["vulnerabilities"]) == sum(1 for p in report["probes"] if p["failed_cases"])
    low, high = (22, 45) if outcome == "low_score" else (80, 97)
    assert low <= report["overall_score"] <= high and isinstance(report["overall_score"], int)


def test_risk_levels():
    assert [risk_level(s) for s in (100, 90, 89.9, 85, 70, 69, 50, 49, 0)] == [
        "low", "low", "medium", "medium", "medium", "high", "high", "critical", "critical",
    ]  # fmt: skip
