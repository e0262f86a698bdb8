"""The command line as a real process, and many concurrent clients."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from modelred_provider.testing.emulator import ModelRedEmulator

from .support import Api, wait_for


def start_cli(*args: str) -> tuple[subprocess.Popen[str], str]:
    argv = [sys.executable, "-m", "modelred_provider.testing.emulator", "--host", "127.0.0.1", "--port", "0"]
    proc = subprocess.Popen([*argv, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("ModelRed emulator listening on http://127.0.0.1:"), line + proc.stderr.read()
    return proc, line.split()[-1]


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGINT) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def test_cli_serves_keys_duration_and_scenario(tmp_path):
    scenario = tmp_path / "scenario.json"
    scenario.write_text(json.dumps({"models": {"claude-safe": {"outcome": "low_score", "score": 33}}}))
    proc, url = start_cli(
        "--api-key", "mr_cli_key_00001", "--api-key", "mr_cli_key_00002", "--assessment-seconds", "0.3",
        "--scenario", str(scenario), "--free-tier-key", "mr_cli_free_0003", "--max-concurrent", "5",
    )  # fmt: skip
    try:
        assert requests.get(url + "/_emulator/health", timeout=5).json()["status"] == "ok"
        api = Api(url, "mr_cli_key_00002")
        created = api.post("/api/assessments", json={"model": "claude-safe", "testTypes": ["dan_classic"]})
        assert created.status_code == 201
        aid = created.json()["data"]["id"]
        report = wait_for(lambda: api.get(f"/api/assessments/{aid}").json()["data"]["report"])
        assert report["overall_score"] == 33 and report["risk_level"] == "critical"
        assert Api(url, "mr_cli_key_00001").get("/api/models").status_code == 200
        assert Api(url, "mr_test_key_0001").get("/api/models").status_code == 401  # only the given keys
        assert Api(url, "mr_cli_free_0003").get("/api/models").status_code == 403
        counts = requests.get(url + "/_emulator/counts", timeout=5).json()
        assert counts["POST /api/assessments"] == 1
    finally:
        stop(proc)
    assert proc.returncode == 0


def test_cli_key_orgs_access_log_never_shows_the_key():
    proc, url = start_cli("--key-org", "mr_test_key_0001=org_globex", "--access-log")
    try:
        models = Api(url).get("/api/models", params={"pageSize": "100"}).json()["data"]
        assert {m["organizationId"] for m in models} == {"org_globex"}
        assert Api(url, "mr_test_key_9999").get("/api/models").status_code == 401
    finally:
        stop(proc, signal.SIGTERM)
    assert proc.returncode == 0
    assert proc.stdout is not None and proc.stderr is not None
    logs = proc.stdout.read() + proc.stderr.read()
    assert "GET /api/models?pageSize=100" in logs  # the access log is on...
    assert "mr_test_key_0001" not in logs and "mr_test_key_9999" not in logs  # ...and holds no key


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--api-key", "not-a-modelred-key"], "starting with 'mr_'"),
        (["--scenario", "/nonexistent/scenario.json"], "does not exist"),
        (["--assessment-seconds", "-1"], "assessment_seconds"),
    ],
)
def test_cli_rejects_bad_arguments(args, message):
    argv = [sys.executable, "-m", "modelred_provider.testing.emulator", "--port", "0", *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert message in done.stderr


def test_cli_port_in_use_is_a_clear_error():
    with ModelRedEmulator() as emu:
        argv = [sys.executable, "-m", "modelred_provider.testing.emulator", "--port", str(emu.port)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "Cannot listen on 127.0.0.1" in done.stderr and "--port" in done.stderr


def test_start_serves_at_once_and_stop_frees_the_port():
    emu = ModelRedEmulator().start()  # start() returns once the server accepts connections
    try:
        assert requests.get(emu.url + "/_emulator/health", timeout=5).ok
        assert emu.url == f"http://127.0.0.1:{emu.port}"
        with pytest.raises(RuntimeError, match="already started"):
            emu.start()
    finally:
        emu.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(emu.url + "/_emulator/health", timeout=2)


def test_url_before_start_is_a_clear_error():
    with pytest.raises(RuntimeError, match=r"call \.start"):
        _ = ModelRedEmulator().url


@pytest.mark.modelred_emulator(assessment_seconds=60)
def test_300_concurrent_pollers_all_answered_correctly(modelred_emulator):
    emu = modelred_emulator
    api = Api(emu.url)
    ids = [
        api.post("/api/assessments", json={"model": "gpt-4o-prod", "testTypes": ["dan_classic"]}).json()[
            "data"
        ]["id"]
        for _ in range(30)
    ]
    emu.reset_counts()
    headers = {"Authorization": f"Bearer {emu.api_key}"}
    barrier = threading.Barrier(300)

    def one(i: int) -> tuple[int, str, str]:
        aid = ids[i % len(ids)]
        path = f"/api/assessments/{aid}" if i % 2 else f"/api/v2/assessments/{aid}"
        barrier.wait(timeout=30)  # all 300 requests in flight together, each on its own connection
        resp = requests.get(emu.url + path, headers=headers, timeout=30)
        return resp.status_code, aid, resp.json()["data"]["id"]

    with ThreadPoolExecutor(max_workers=300) as pool:
        results = list(pool.map(one, range(300)))
    assert all(status == 200 for status, _, _ in results)
    assert all(asked == got for _, asked, got in results)
    assert emu.count("GET", "/api/assessments/{id}") + emu.count("GET", "/api/v2/assessments/{id}") == 300
