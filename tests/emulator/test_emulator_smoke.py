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
