"""First smoke test: the fixtures start a real server that walks an assessment to COMPLETED."""

from __future__ import annotations

import json
import os
import time

import pytest
import requests


@pytest.mark.modelred_emulator(assessment_seconds=0.3)
def test_fixture_serves_an_assessment_to_completion(modelred_emulator):
    emu = modelred_emulator
    headers = {"Authorization": f"Bearer {emu.api_key}"}
    created = requests.post(
        emu.url + "/api/assessments",
        json={"model": "gpt-4o-prod", "testTypes": ["reverse_psychology"], "priority": "normal"},
        headers=headers,
        timeout=5,
    )
    assert created.status_code == 201
    aid = created.json()["data"]["assessment_id"]
    assert created.json()["data"]["status"] == "QUEUED"
    time.sleep(0.35)
    got = requests.get(f"{emu.url}/api/assessments/{aid}", headers=headers, timeout=5).json()["data"]
    assert got["status"] == "COMPLETED"
    assert got["report"]["overall_score"] >= 80
    assert emu.created_assessments() == [aid]
    assert emu.count("POST", "/api/assessments") == 1


def test_connection_fixture_points_at_the_emulator(modelred_connection, modelred_emulator):
    assert modelred_connection == "modelred_default"
    conn = json.loads(os.environ["AIRFLOW_CONN_MODELRED_DEFAULT"])
    assert conn == {
        "conn_type": "modelred",
        "host": modelred_emulator.url,
        "password": modelred_emulator.api_key,
    }


def test_session_fixture_is_shared_and_running(modelred_emulator_session, request):
    again = request.getfixturevalue("modelred_emulator_session")
    assert again is modelred_emulator_session
    resp = requests.get(modelred_emulator_session.url + "/_emulator/health", timeout=5)
    assert resp.json()["status"] == "ok"
    assert modelred_emulator_session.assessment_seconds == 2.0


@pytest.mark.modelred_emulator(api_keys=("mr_marker_key_0009",), max_concurrent=1)
def test_marker_configures_the_function_fixture(modelred_emulator):
    assert modelred_emulator.api_key == "mr_marker_key_0009"
    headers = {"Authorization": "Bearer mr_marker_key_0009"}
    body = {"model": "stuck-model", "testTypes": ["dan_classic"]}
    assert requests.post(modelred_emulator.url + "/api/assessments", json=body, headers=headers, timeout=5).ok
    second = requests.post(modelred_emulator.url + "/api/assessments", json=body, headers=headers, timeout=5)
    assert second.status_code == 403
