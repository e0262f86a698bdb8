"""The emulator's control API (``/_emulator/...``, no key) must not be drivable from a web page the developer
visits (cross-site form/text POSTs, DNS rebinding), and no emulator route may be made to read a huge body
or crash on a deeply nested one. Over real HTTP on loopback, against a real emulator."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
import requests

from modelred_provider.testing.emulator import ModelRedEmulator, exposure_warning

FAULT = {"method": "GET", "path": "/api/models", "kind": "drop", "count": 1}
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def emu() -> Iterator[ModelRedEmulator]:
    with ModelRedEmulator(assessment_seconds=60, allowed_hosts=("emulator.internal",)) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def _clean(emu: ModelRedEmulator) -> Iterator[None]:
    emu.clear_faults()
    yield
    emu.clear_faults()


def assert_refused(resp: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error", "code", "details"} and body["code"] == code, body
    assert isinstance(body["error"], str) and body["error"]
    return body


def raw_http(port: int, head: str, body: Iterable[bytes] = (), timeout: float = 5.0) -> tuple[int, bytes]:
    """Send a request head (and body pieces) on a raw socket; the status and everything read until EOF.

    The server may close (even reset) the connection while the body is still arriving: sending stops
    there, and what was answered before the reset is still read.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head.encode("latin-1"))
        try:
            for piece in body:
                sock.sendall(piece)
        except OSError:
            pass
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
    status_line = data.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 "), data[:200]
    return int(status_line.split()[1]), data


# -- cross-site requests: only application/json writes ------------------------------------------------


@pytest.mark.parametrize(
    "content_type", ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", None]
)
def test_a_cross_site_style_post_arms_no_fault(emu: ModelRedEmulator, content_type: str | None) -> None:
    """A page can POST text/plain or a form to 127.0.0.1 without a CORS preflight: refused, nothing armed."""
    headers = {"Content-Type": content_type} if content_type else {}
    resp = requests.post(f"{emu.url}/_emulator/faults", data=json.dumps(FAULT), headers=headers, timeout=5)
    if content_type is None:  # requests adds no type for a str body; make sure none is sent
        assert "Content-Type" not in resp.request.headers
    assert_refused(resp, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert emu.faults.active() == []
    assert requests.get(f"{emu.url}/_emulator/faults", timeout=5).json() == {"data": []}


def test_a_bodiless_cross_site_post_cannot_end_an_assessment(emu: ModelRedEmulator) -> None:
    key = {"Authorization": f"Bearer {emu.api_key}"}
    created = requests.post(
        f"{emu.url}/api/assessments", json={"model": "gpt-4o-prod", "testTypes": ["dan_classic"]},
        headers=key, timeout=5,
    )  # fmt: skip
    aid = created.json()["data"]["id"]
    resp = requests.post(f"{emu.url}/_emulator/assessments/{aid}/complete", timeout=5)
    assert_refused(resp, 415, "UNSUPPORTED_MEDIA_TYPE")
    status = requests.get(f"{emu.url}/api/assessments/{aid}", headers=key, timeout=5).json()["data"]["status"]
    assert status in ("QUEUED", "RUNNING")
    # The same call as JSON (what the test harnesses send) still works.
    ok = requests.post(f"{emu.url}/_emulator/assessments/{aid}/complete", json={}, timeout=5)
    assert ok.status_code == 200 and ok.json()["data"]["status"] == "COMPLETED"


def test_a_json_fault_post_still_works(emu: ModelRedEmulator) -> None:
    resp = requests.post(f"{emu.url}/_emulator/faults", json=FAULT, timeout=5)
    assert resp.status_code == 201
    assert [f.to_dict()["kind"] for f in emu.faults.active()] == ["drop"]


# -- DNS rebinding: only loopback Host headers ----------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:{port}", "127.0.0.1.evil.example", "10.0.0.7"]
)
def test_a_foreign_host_header_is_refused_on_the_control_api(emu: ModelRedEmulator, host: str) -> None:
    headers = {"Host": host.format(port=emu.port)}
    assert_refused(
        requests.get(f"{emu.url}/_emulator/health", headers=headers, timeout=5), 403, "HOST_NOT_ALLOWED"
    )
    resp = requests.post(f"{emu.url}/_emulator/faults", json=FAULT, headers=headers, timeout=5)
    assert_refused(resp, 403, "HOST_NOT_ALLOWED")
    assert emu.faults.active() == []


def test_a_request_without_a_host_header_is_refused(emu: ModelRedEmulator) -> None:
    status, data = raw_http(emu.port, "GET /_emulator/health HTTP/1.0\r\n\r\n")
    assert status == 403 and b"HOST_NOT_ALLOWED" in data


@pytest.mark.parametrize(
    "host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST", "127.1.2.3:9", "[::1]:{port}"]
)
def test_loopback_host_headers_are_answered(emu: ModelRedEmulator, host: str) -> None:
    headers = {"Host": host.format(port=emu.port)}
    assert requests.get(f"{emu.url}/_emulator/health", headers=headers, timeout=5).json()["status"] == "ok"


def test_the_api_routes_refuse_a_rebound_host_name_too(emu: ModelRedEmulator) -> None:
    """The default key is public, so a rebinding page could use the API too: DNS names must be loopback
    (or allowed with --allow-host); an IP literal cannot be a rebinding, so it is answered."""
    key = {"Authorization": f"Bearer {emu.api_key}"}
    resp = requests.get(f"{emu.url}/api/models", headers={**key, "Host": "evil.example"}, timeout=5)
    assert_refused(resp, 403, "HOST_NOT_ALLOWED")
    assert emu.count("GET", "/api/models") == 0  # refused before being counted
    for host in ("emulator.internal:8765", "192.0.2.10:8765", f"127.0.0.1:{emu.port}"):
        assert requests.get(f"{emu.url}/api/models", headers={**key, "Host": host}, timeout=5).ok, host
    # --allow-host opens the API routes only: the control API stays loopback-only.
    resp = requests.get(f"{emu.url}/_emulator/health", headers={"Host": "emulator.internal"}, timeout=5)
    assert_refused(resp, 403, "HOST_NOT_ALLOWED")


# -- body size ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "extra"),
    [
        ("POST", "/_emulator/faults", ""),
        ("PUT", "/_emulator/scenario", ""),
        ("POST", "/api/assessments", "Authorization: Bearer {key}\r\n"),
        ("POST", "/api/v2/assessments", "Authorization: Bearer {key}\r\n"),
    ],
)
def test_a_200_mb_body_is_refused_before_it_is_read(
    emu: ModelRedEmulator, method: str, path: str, extra: str
) -> None:
    """Only the head and 64 KiB are sent: a server that waits for (and buffers) the 200 MB never answers."""
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{emu.port}\r\nContent-Type: application/json\r\n"
        f"{extra.format(key=emu.api_key)}Content-Length: {200 * MIB}\r\n\r\n"
    )
    started = time.monotonic()
    status, data = raw_http(emu.port, head, [b"[" + b" " * (64 * 1024)], timeout=3)
    assert status == 413, data[:300]
    assert time.monotonic() - started < 2
    assert b'"code": "PAYLOAD_TOO_LARGE"' in data and b"connection: close" in data.lower()
    assert emu.faults.active() == []


def test_a_chunked_body_is_cut_off_past_the_cap(emu: ModelRedEmulator) -> None:
    head = (
        f"POST /api/assessments HTTP/1.1\r\nHost: 127.0.0.1:{emu.port}\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {emu.api_key}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    piece = b" " * (64 * 1024)
    chunks = [b"%x\r\n%s\r\n" % (len(piece), piece) for _ in range(20)] + [b"0\r\n\r\n"]  # 1.25 MiB
    status, data = raw_http(emu.port, head, chunks)
    assert status == 413 and b"PAYLOAD_TOO_LARGE" in data, data[:300]


def test_a_body_under_the_cap_is_still_read(emu: ModelRedEmulator) -> None:
    scenario = {"models": {"gpt-4o-prod": {"outcome": "pass", "error": "x" * (900 * 1024)}}}
    resp = requests.put(f"{emu.url}/_emulator/scenario", json=scenario, timeout=10)
    assert resp.status_code == 200, resp.text[:300]
    emu.set_scenario(None)


# -- deeply nested JSON ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "auth"),
    [
        ("POST", "/_emulator/faults", False),
        ("PUT", "/_emulator/scenario", False),
        ("POST", "/_emulator/assessments/asm_x/fail", False),
        ("POST", "/api/v2/assessments", True),
        ("POST", "/api/models", True),
    ],
)
@pytest.mark.parametrize("body", ["[" * 100_000, '{"a":' * 50_000, "[" * 5_000 + "]" * 5_000])
def test_a_deeply_nested_body_is_a_400_not_a_500(
    emu: ModelRedEmulator, method: str, path: str, auth: bool, body: str
) -> None:
    headers = {"Content-Type": "application/json"}
    if auth:
        headers["x-api-key"] = emu.api_key  # v2 errors: bad input is a 400 (the resources API says 422)
    resp = requests.request(method, emu.url + path, data=body, headers=headers, timeout=10)
    details = assert_refused(resp, 400, "INVALID_JSON")
    assert "nested too deeply" in details["error"]
    assert emu.faults.active() == []


def test_a_deeply_nested_body_on_the_resources_api_is_its_usual_422(emu: ModelRedEmulator) -> None:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {emu.api_key}"}
    resp = requests.post(f"{emu.url}/api/assessments", data="[" * 100_000, headers=headers, timeout=10)
    assert_refused(resp, 422, "INVALID_JSON")


# -- listening beyond loopback --------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "192.0.2.10", "my-laptop.lan"])
def test_a_non_loopback_bind_is_warned_about(host: str) -> None:
    warning = exposure_warning(host)
    assert warning and "control API" in warning and "needs no key" in warning and "anyone" in warning


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1"])
def test_a_loopback_bind_is_not_warned_about(host: str) -> None:
    assert exposure_warning(host) is None


def test_binding_every_interface_logs_the_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="modelred_provider.testing.emulator")
    with ModelRedEmulator(host="0.0.0.0") as exposed:  # a free port, for a fraction of a second
        assert exposed.port
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "control API" in r.getMessage()]
    assert len(warnings) == 1 and "anyone who can reach this port" in warnings[0].getMessage()
    caplog.clear()
    with ModelRedEmulator():
        pass
    assert not [r for r in caplog.records if "control API" in r.getMessage()]
