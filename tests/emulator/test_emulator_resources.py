"""The resources API (E2): ``/api/assessments`` create/get/list, the state machine, reports, errors."""

from __future__ import annotations

import re
import time

import pytest

from modelred_provider.testing.emulator import ModelRedEmulator

from .support import E2_ASSESSMENT_FIELDS, ISO_Z, Api, assert_error, wait_for

REPORT_FIELDS = {
    "overall_score", "risk_level", "total_tests", "passed_tests", "failed_tests", "critical_issues",
    "high_severity_issues", "medium_severity_issues", "low_severity_issues", "probes", "vulnerabilities",
}  # fmt: skip
PROBE_RESULT_FIELDS = {
    "key", "displayName", "category", "severity", "total_cases", "passed_cases", "failed_cases", "pass_rate",
    "findings",
}  # fmt: skip
G = "gpt-4o-prod"
PROBES = ["reverse_psychology", "data_leakage_01", "dan_classic", "hate_speech", "age_stereotypes"]


def create(api: Api, model: str = "gpt-4o-prod", probes=None, priority: str | None = "high") -> dict:
    body = {"model": model, "testTypes": probes or PROBES}
    if priority is not None:
        body["priority"] = priority
    resp = api.post("/api/assessments", json=body)
    assert resp.status_code == 201, resp.text
    assert set(resp.json()) == {"data"}
    return resp.json()["data"]


def get(api: Api, aid: str) -> dict:
    resp = api.get(f"/api/assessments/{aid}")
    assert resp.status_code == 200, resp.text
    assert set(resp.json()) == {"data"}
    return resp.json()["data"]


def test_create_answers_queued_in_both_spellings(api, emu):
    a = create(api)
    assert set(a) == E2_ASSESSMENT_FIELDS
    assert a["assessment_id"] == a["id"] and a["id"].startswith("asm_")
    model = api.get("/api/models/gpt-4o-prod").json()["data"]
    assert a["model_id"] == a["modelId"] == model["id"]
    assert a["status"] == "QUEUED" and a["progress"] == 0
    assert a["priority"] == "high"
    assert a["test_types"] == a["testTypes"] == PROBES
    assert a["probe_pack_ids"] is None and a["probePackIds"] is None
    assert a["provider"] == "openai"
    assert re.match(ISO_Z, a["created_at"]) and a["created_at"] == a["createdAt"]
    assert a["completed_at"] is a["completedAt"] is None
    assert a["report"] is a["detailedReport"] is None
    assert a["error_message"] is a["errorMessage"] is None
    assert a["id"] in emu.created_assessments()


def test_priority_defaults_to_normal_and_is_case_insensitive(api):
    assert create(api, priority=None)["priority"] == "normal"
    assert create(api, priority="CRITICAL")["priority"] == "critical"


# 3 s: the first GET must land within the QUEUED 20 % (0.6 s) even on a loaded 2-core machine.
@pytest.mark.modelred_emulator(assessment_seconds=3.0)
def test_state_machine_queued_running_completed(modelred_emulator):
    api = Api(modelred_emulator.url)
    aid = create(api)["id"]
    seen = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        a = get(api, aid)
        seen.append((a["status"], a["progress"]))
        if a["status"] == "COMPLETED":
            break
        assert a["report"] is None and a["completedAt"] is None
        time.sleep(0.03)
    statuses = [s for s, _ in seen]
    assert statuses[0] == "QUEUED" and statuses[-1] == "COMPLETED"
    assert "RUNNING" in statuses
    # QUEUED* RUNNING+ COMPLETED, in that order, progress never going back.
    order = {"QUEUED": 0, "RUNNING": 1, "COMPLETED": 2}
    assert [order[s] for s in statuses] == sorted(order[s] for s in statuses)
    progress = [p for _, p in seen]
    assert progress == sorted(progress)
    assert all(p == 0 for s, p in seen if s == "QUEUED")
    assert all(0 <= p <= 99 for s, p in seen if s == "RUNNING")
    assert seen[-1][1] == 100


def test_completed_assessment_has_the_contract_report(api):
    aid = create(api)["id"]
    a = wait_for(lambda: (x := get(api, aid))["status"] == "COMPLETED" and x)
    assert re.match(ISO_Z, a["completed_at"]) and a["completed_at"] == a["completedAt"]
    assert a["completed_at"] > a["created_at"]
    report = a["report"]
    assert report == a["detailedReport"]
    assert set(report) == REPORT_FIELDS
    assert 80 <= report["overall_score"] <= 100  # gpt-4o-prod passes with a high score
    assert report["risk_level"] in ("low", "medium")
    assert report["total_tests"] == report["passed_tests"] + report["failed_tests"]
    assert sorted(p["key"] for p in report["probes"]) == sorted(PROBES)
    assert sum(p["total_cases"] for p in report["probes"]) == report["total_tests"]
    assert sum(p["passed_cases"] for p in report["probes"]) == report["passed_tests"]
    for p in report["probes"]:
        assert set(p) == PROBE_RESULT_FIELDS
        assert p["passed_cases"] + p["failed_cases"] == p["total_cases"]
        assert p["pass_rate"] == round(100 * p["passed_cases"] / p["total_cases"], 1)
        assert p["severity"] in ("critical", "high", "medium", "low")
        assert isinstance(p["findings"], list) and len(p["findings"]) == min(3, p["failed_cases"])
    failing = {p["key"]: p for p in report["probes"] if p["failed_cases"]}
    assert {v["probe"] for v in report["vulnerabilities"]} == set(failing)
    for v in report["vulnerabilities"]:
        assert set(v) == {"probe", "severity", "description", "recommendation"}
        assert v["severity"] == failing[v["probe"]]["severity"]
        assert v["description"] and v["recommendation"]
    assert report["critical_issues"] == sum(
        1 for v in report["vulnerabilities"] if v["severity"] == "critical"
    )


def test_reports_are_deterministic_across_emulators(api, emu):
    first = create(api, "claude-safe", ["dan_classic", "hate_speech"])["id"]
    a = wait_for(lambda: (x := get(api, first))["status"] == "COMPLETED" and x)
    with ModelRedEmulator(assessment_seconds=0) as other:
        api_b = Api(other.url)
        b = get(api_b, create(api_b, "claude-safe", ["hate_speech", "dan_classic"])["id"])
    assert b["status"] == "COMPLETED"
    assert b["report"] == a["report"]
    # A different probe set gives a different report.
    c = get(api, create(api, "claude-safe", ["dan_classic"])["id"])
    assert wait_for(lambda: get(api, c["id"])["report"]) != a["report"]


def test_low_score_model_has_critical_vulnerabilities(api):
    aid = create(api, "llama-weak", ["data_leakage_01", "instruction_override", "dan_classic"])["id"]
    report = wait_for(lambda: get(api, aid)["report"])
    assert report["overall_score"] < 50
    assert report["risk_level"] == "critical"
    assert any(v["severity"] == "critical" for v in report["vulnerabilities"])


def test_failing_model_fails_with_an_error_and_no_report(api):
    aid = create(api, "broken-endpoint")["id"]
    a = wait_for(lambda: (x := get(api, aid))["status"] == "FAILED" and x)
    assert a["report"] is None and a["detailedReport"] is None
    assert "HTTP 500" in a["error_message"] and a["error_message"] == a["errorMessage"]
    assert re.match(ISO_Z, a["completedAt"])
    assert a["progress"] == 50


def test_stuck_model_never_leaves_queued(api, emu):
    aid = create(api, "stuck-model")["id"]
    time.sleep(emu.assessment_seconds * 1.5)
    a = get(api, aid)
    assert (a["status"], a["progress"], a["completedAt"]) == ("QUEUED", 0, None)


def test_list_is_newest_first_with_limit(api):
    ids = [create(api, "claude-safe", ["secret_echo"])["id"] for _ in range(3)]
    body = api.get("/api/assessments", params={"limit": "2"}).json()
    assert [a["id"] for a in body["data"]] == ids[::-1][:2]
    assert body["total"] == 2
    everything = api.get("/api/assessments").json()
    assert everything["total"] == len(everything["data"]) >= 3
    assert [a["id"] for a in everything["data"][:3]] == ids[::-1]
    created = [a["createdAt"] for a in everything["data"]]
    assert created == sorted(created, reverse=True)
    for a in everything["data"]:
        assert set(a) == E2_ASSESSMENT_FIELDS


def test_list_status_filter(api):
    aid = create(api, "stuck-model", ["secret_echo"])["id"]
    queued = api.get("/api/assessments", params={"status": "queued"}).json()["data"]
    assert aid in {a["id"] for a in queued} and {a["status"] for a in queued} == {"QUEUED"}
    assert_error(api.get("/api/assessments", params={"status": "DONE"}), 422, "VALIDATION_ERROR", "status")


def test_get_unknown_assessment(api):
    body = assert_error(api.get("/api/assessments/asm_missing"), 404, "ASSESSMENT_NOT_FOUND")
    assert body["error"] == "Assessment not found"


def test_there_is_no_cancel_endpoint(api):
    aid = create(api, "stuck-model")["id"]
    assert_error(api.delete(f"/api/assessments/{aid}"), 405, "METHOD_NOT_ALLOWED")
    assert get(api, aid)["status"] == "QUEUED"


@pytest.mark.parametrize(
    ("body", "status", "code", "text"),
    [
        ({"model": "nope", "testTypes": ["dan_classic"]}, 404, "MODEL_NOT_FOUND", "'nope' not found"),
        ({"testTypes": ["dan_classic"]}, 422, "VALIDATION_ERROR", "model is required"),
        ({"model": G, "testTypes": ["dan_classic", "telepathy"]}, 422, "UNKNOWN_PROBE", "'telepathy'"),
        ({"model": G, "testTypes": []}, 422, "VALIDATION_ERROR", "must not be empty"),
        ({"model": G}, 422, "VALIDATION_ERROR", "testTypes is required"),
        ({"model": G, "testTypes": "dan_classic"}, 422, "VALIDATION_ERROR", "testTypes"),
        ({"model": G, "testTypes": ["dan_classic"], "priority": "urgent"}, 422, "VALIDATION_ERROR",
         "priority must be one of low, normal, high, critical"),
        ({"model": "grok-legacy", "testTypes": ["dan_classic"]}, 422, "MODEL_INACTIVE", "inactive"),
    ],
)  # fmt: skip
def test_create_errors(api, emu, body, status, code, text):
    before = len(emu.created_assessments())
    assert_error(api.post("/api/assessments", json=body), status, code, text)
    assert len(emu.created_assessments()) == before


def test_unknown_probe_details_list_every_unknown_key(api):
    body = {"model": "gpt-4o-prod", "testTypes": ["dan_classic", "x1", "x2"]}
    details = assert_error(api.post("/api/assessments", json=body), 422, "UNKNOWN_PROBE")["details"]
    assert details == {"field": "testTypes", "unknown": ["x1", "x2"]}


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", "", '"text"'])
def test_malformed_json(api, raw):
    resp = api.post("/api/assessments", data=raw, headers={"Content-Type": "application/json"})
    assert_error(resp, 422, "INVALID_JSON")
