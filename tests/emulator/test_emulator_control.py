"""The HTTP control API (for other processes) and the Python control calls (as from the web UI)."""

from __future__ import annotations

import pytest
import requests

from .support import Api, assert_error, wait_for

BODY = {"model": "stuck-model", "testTypes": ["dan_classic"]}


@pytest.fixture
def env(modelred_emulator):
    emu = modelred_emulator
    return (
        emu,
        Api(emu.url),
        # The control API takes writes only as application/json, bodiless ones included.
        lambda method, path, **kw: requests.request(
            method, emu.url + path, timeout=5, headers={"Content-Type": "application/json"}, **kw
        ),
    )


def test_health(env):
    _, api, ctl = env
    api.post("/api/assessments", json=BODY)
    assert ctl("GET", "/_emulator/health").json() == {"status": "ok", "assessments": 1}


def test_faults_over_http(env):
    _, api, ctl = env
    fault = {
        "method": "GET",
        "path": "/api/models",
        "kind": "status",
        "status": 429,
        "retry_after": 2,
        "count": 1,
    }
    resp = ctl("POST", "/_emulator/faults", json=fault)
    assert resp.status_code == 201
    assert resp.json()["data"] == {**fault, "stall_seconds": None}
    assert ctl("GET", "/_emulator/faults").json()["data"] == [{**fault, "stall_seconds": None}]
    got = api.get("/api/models")
    assert got.status_code == 429 and got.headers["Retry-After"] == "2"
    assert ctl("GET", "/_emulator/faults").json()["data"] == []
    ctl(
        "POST", "/_emulator/faults", json={"method": "GET", "path": "/api/models", "kind": "drop", "count": 5}
    )
    assert ctl("DELETE", "/_emulator/faults").status_code == 204
    assert api.get("/api/models").status_code == 200


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ({"method": "GET", "path": "/api/models", "kind": "nope"}, "Unknown fault kind"),
        ({"method": "GET", "path": "/api/models", "kind": "status"}, "needs status="),
        ({"method": "GET", "path": "/api/models", "kind": "drop", "colour": "red"}, "colour"),
        (
            {"method": "GET", "path": "/api/models", "kind": "status", "status": 429, "retry_after": "3"},
            "retry_after",
        ),
        ({"method": "GET", "path": "/api/models", "kind": "stall", "stall_seconds": "1"}, "stall_seconds"),
    ],
)
def test_bad_fault_over_http(env, fault, message):
    _, _, ctl = env
    assert_error(ctl("POST", "/_emulator/faults", json=fault), 400, "BAD_FAULT", message)
    assert_error(ctl("POST", "/_emulator/faults", data="{"), 400, "INVALID_JSON")


def test_counts_over_http(env):
    emu, api, ctl = env
    api.get("/api/models")
    api.get("/api/models")
    counts = ctl("GET", "/_emulator/counts").json()
    # Every TCP connection counts, the control API's too: the session's one, then this call's.
    assert counts == {"GET /api/models": 2, "connections": 2}
    assert ctl("DELETE", "/_emulator/counts").status_code == 204
    assert ctl("GET", "/_emulator/counts").json() == {"connections": 1}
    assert emu.counts() == {}


@pytest.mark.parametrize(("action", "status"), [("complete", "COMPLETED"), ("fail", "FAILED"),
                                                 ("cancel", "CANCELLED")])  # fmt: skip
def test_control_actions_over_http(env, action, status):
    _, api, ctl = env
    aid = api.post("/api/assessments", json=BODY).json()["data"]["id"]
    kw = {"json": {"error": "Target timed out"}} if action == "fail" else {}
    resp = ctl("POST", f"/_emulator/assessments/{aid}/{action}", **kw)
    assert resp.status_code == 200 and resp.json()["data"]["status"] == status
    a = api.get(f"/api/assessments/{aid}").json()["data"]
    assert a["status"] == status and a["completedAt"]
    if action == "complete":
        assert a["progress"] == 100 and a["report"]["overall_score"] >= 0
    else:
        assert a["report"] is None
    assert a["errorMessage"] == ("Target timed out" if action == "fail" else None)
    assert ctl("GET", "/_emulator/assessments").json() == {"data": [aid]}
    # Terminal already: 409; unknown: 404; unknown action: 404.
    assert_error(ctl("POST", f"/_emulator/assessments/{aid}/cancel"), 409, "ASSESSMENT_TERMINAL", status)
    assert_error(ctl("POST", "/_emulator/assessments/asm_nope/complete"), 404, "ASSESSMENT_NOT_FOUND")
    assert_error(
        ctl("POST", f"/_emulator/assessments/{aid}/explode"), 404, "NOT_FOUND", "complete, fail or cancel"
    )


def test_python_control_calls(env):
    emu, api, _ = env
    api2 = Api(emu.url, v2=True)
    ids = [api.post("/api/assessments", json=BODY).json()["data"]["id"] for _ in range(3)]
    emu.complete_assessment(ids[0])
    emu.fail_assessment(ids[1], error="Provider quota exhausted")
    emu.cancel_assessment(ids[2])
    got = [api2.get(f"/api/v2/assessments/{i}").json()["data"] for i in ids]
    assert [a["status"] for a in got] == ["COMPLETED", "FAILED", "CANCELLED"]
    assert got[1]["errorMessage"] == "Provider quota exhausted"
    assert got[0]["detailedReport"] is not None
    with pytest.raises(Exception, match="already CANCELLED"):
        emu.complete_assessment(ids[2])
    with pytest.raises(Exception, match="Assessment not found"):
        emu.cancel_assessment("asm_nope")
    assert emu.created_assessments() == ids


@pytest.mark.modelred_emulator(assessment_seconds=4)
def test_cancel_while_running_keeps_progress(modelred_emulator):
    emu = modelred_emulator
    api = Api(emu.url)
    aid = api.post("/api/assessments", json={**BODY, "model": "gpt-4o-prod"}).json()["data"]["id"]
    running = wait_for(lambda: (a := api.get(f"/api/assessments/{aid}").json()["data"])["progress"] > 0 and a)
    emu.cancel_assessment(aid)
    a = api.get(f"/api/assessments/{aid}").json()["data"]
    assert a["status"] == "CANCELLED" and running["progress"] <= a["progress"] < 100


def test_scenario_over_http(env):
    _, api, ctl = env
    assert ctl("PUT", "/_emulator/scenario", json={"models": {"gpt-4o-prod": {"outcome": "stuck"}}}).ok
    aid = api.post("/api/assessments", json={**BODY, "model": "gpt-4o-prod"}).json()["data"]["id"]
    assert api.get(f"/api/assessments/{aid}").json()["data"]["status"] == "QUEUED"
    bad = ctl("PUT", "/_emulator/scenario", json={"models": {"gpt-4o-prod": {"outcome": "explode"}}})
    assert_error(bad, 400, "BAD_SCENARIO", "pass, fail, low_score, stuck")


def test_dashboard_page(env):
    emu, api, ctl = env
    aid = api.post("/api/assessments", json=BODY).json()["data"]["id"]
    page = ctl("GET", f"/assessments/{aid}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert aid in page.text and "QUEUED" in page.text and "Bedrock Claude v2" in page.text
    assert emu.api_key not in page.text
    assert ctl("GET", "/assessments/asm_nope").status_code == 404
