"""Fault injection (Python and HTTP control API) and the per-route counters."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests

from .support import Api, assert_error

BODY = {"model": "gpt-4o-prod", "testTypes": ["dan_classic"], "priority": "normal"}


@pytest.fixture
def fresh(modelred_emulator):
    return modelred_emulator, Api(modelred_emulator.url)


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_status_fault_then_normal_answers(fresh, status):
    emu, api = fresh
    emu.inject_fault("GET", "/api/models", kind="status", status=status, count=2, retry_after=3)
    for _ in range(2):
        resp = api.get("/api/models")
        assert resp.status_code == status
        assert resp.headers["Retry-After"] == "3"
        body = resp.json()
        assert isinstance(body["error"], str) and body["code"] and body["details"] == {"injected": True}
    assert api.get("/api/models").status_code == 200
    assert emu.count("GET", "/api/models") == 3


def test_status_fault_without_retry_after_has_no_header(fresh):
    emu, api = fresh
    emu.inject_fault("GET", "/api/models", kind="status", status=429)
    resp = api.get("/api/models")
    assert resp.status_code == 429 and "Retry-After" not in resp.headers


def test_fault_matches_method_path_and_prefix(fresh):
    emu, api = fresh
    aid = api.post("/api/assessments", json=BODY).json()["data"]["id"]
    emu.inject_fault("GET", "/api/assessments/*", kind="status", status=503, count=None)
    assert api.get(f"/api/assessments/{aid}").status_code == 503
    assert api.get(f"/api/assessments/{aid}").status_code == 503  # count=None: every request
    assert api.get("/api/assessments").status_code == 200  # the prefix needs the trailing slash
    assert api.post("/api/assessments", json=BODY).status_code == 201  # another method
    emu.clear_faults()
    assert api.get(f"/api/assessments/{aid}").status_code == 200
    emu.inject_fault("*", "/api/models", kind="status", status=500)
    assert api.post("/api/models", json={}).status_code == 500


def test_faults_fire_in_order(fresh):
    emu, api = fresh
    emu.inject_fault("GET", "/api/probes", kind="status", status=503)
    emu.inject_fault("GET", "/api/probes", kind="status", status=429, retry_after=1)
    assert [api.get("/api/probes").status_code for _ in range(3)] == [503, 429, 200]


def test_stall_delays_only_that_request(fresh):
    emu, api = fresh
    # A long stall and a loose bound on the other request: a blocked server would make it wait ~2.9 s,
    # a loaded 2-core CI machine can still take a good fraction of a second to answer it.
    emu.inject_fault("GET", "/api/models", kind="stall", stall_seconds=3.0)
    result = {}

    def slow():
        t0 = time.monotonic()
        result["resp"] = api.get("/api/models")
        result["took"] = time.monotonic() - t0

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.1)
    t0 = time.monotonic()
    other = Api(emu.url).get("/api/probes")  # the server keeps answering while one request stalls
    assert other.status_code == 200 and time.monotonic() - t0 < 2.0
    t.join()
    assert result["resp"].status_code == 200 and result["resp"].json()["data"]
    assert result["took"] >= 3.0


def test_stall_lets_a_client_time_out(fresh):
    emu, api = fresh
    emu.inject_fault("GET", "/api/models", kind="stall", stall_seconds=1.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.get("/api/models", timeout=0.3)


def test_drop_closes_the_connection_without_an_answer(fresh):
    emu, api = fresh
    emu.inject_fault("GET", "/api/models", kind="drop")
    with pytest.raises(requests.exceptions.ConnectionError):
        api.get("/api/models")
    assert api.get("/api/models").status_code == 200


def test_html_proxy_page(fresh):
    emu, api = fresh
    emu.inject_fault("GET", "/api/models", kind="html")
    emu.inject_fault("GET", "/api/models", kind="html", status=503, retry_after=7)
    first = api.get("/api/models")
    assert first.status_code == 502 and first.headers["content-type"].startswith("text/html")
    assert "<html>" in first.text and "502 Bad Gateway" in first.text
    with pytest.raises(json.JSONDecodeError):
        json.loads(first.text)
    second = api.get("/api/models")
    assert second.status_code == 503 and second.headers["Retry-After"] == "7"
    assert "503 Service Temporarily Unavailable" in second.text


def test_truncated_json(fresh):
    emu, api = fresh
    full = api.get("/api/models").content
    emu.inject_fault("GET", "/api/models", kind="truncated")
    resp = api.get("/api/models")
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/json"
    assert full.startswith(resp.content) and 0 < len(resp.content) < len(full)
    with pytest.raises(json.JSONDecodeError):
        json.loads(resp.content)


def test_process_then_504_really_creates_the_assessment(fresh):
    emu, api = fresh
    emu.inject_fault("POST", "/api/assessments", kind="process_then_504")
    resp = api.post("/api/assessments", json=BODY)
    assert_error(resp, 504, "GATEWAY_TIMEOUT")
    created = emu.created_assessments()
    assert len(created) == 1
    listed = api.get("/api/assessments").json()["data"]
    assert [a["id"] for a in listed] == created
    assert emu.counts() == {"POST /api/assessments": 1, "GET /api/assessments": 1}


def test_counts_by_route_template(fresh):
    emu, api = fresh
    api2 = Api(emu.url, v2=True)
    aid = api.post("/api/assessments", json=BODY).json()["data"]["id"]
    for _ in range(3):
        api.get(f"/api/assessments/{aid}")
    api.get("/api/assessments/asm_other")
    api2.get(f"/api/v2/assessments/{aid}")
    api2.patch(f"/api/v2/assessments/{aid}", json={"action": "cancel"})
    api2.get("/api/v2/probes/imported")
    api2.get("/api/v2/probes/pack_jailbreak_core/data")
    requests.get(f"{emu.url}/_emulator/health", timeout=5)  # control calls are not counted
    assert emu.counts() == {
        "POST /api/assessments": 1,
        "GET /api/assessments/{id}": 4,
        "GET /api/v2/assessments/{id}": 1,
        "PATCH /api/v2/assessments/{id}": 1,
        "GET /api/v2/probes/imported": 1,
        "GET /api/v2/probes/{id}/data": 1,
    }
    assert emu.count("get", "/api/assessments/{id}") == 4
    assert emu.count("DELETE", "/api/assessments/{id}") == 0
    emu.reset_counts()
    assert emu.counts() == {}


def test_connections_are_counted(fresh):
    emu, api = fresh
    emu.reset_counts()
    for _ in range(3):
        api.get("/api/models")  # one keep-alive session: one connection
    assert emu.connections() == 1
    requests.get(emu.url + "/api/models", timeout=5)
    assert emu.connections() == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "explode"}, "Unknown fault kind 'explode'"),
        ({"kind": "status"}, "needs status="),
        ({"kind": "status", "status": 200}, "from 400 to 599"),
        ({"kind": "stall"}, "needs stall_seconds="),
        ({"kind": "drop", "count": 0}, "positive integer"),
        ({"kind": "drop", "retry_after": -1}, "retry_after"),
    ],
)
def test_inject_fault_validates(modelred_emulator, kwargs, message):
    with pytest.raises(ValueError, match=message):
        modelred_emulator.inject_fault("GET", "/api/models", **kwargs)
    with pytest.raises(ValueError, match="starting with '/'"):
        modelred_emulator.inject_fault("GET", "api/models", kind="drop")
    with pytest.raises(ValueError, match="control API"):
        modelred_emulator.inject_fault("GET", "/_emulator/health", kind="drop")
