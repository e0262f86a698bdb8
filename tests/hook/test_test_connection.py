"""test_connection(): one cheap authenticated call, and a message that says what is wrong."""

from __future__ import annotations

import socket

import pytest

from modelred_provider.testing.emulator import ModelRedEmulator

from .servers import Script, scripted_server
from .support import FREE_KEY, KEY, make_hook


def test_ok_with_the_right_key_in_one_request(emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    ok, message = make_hook(monkeypatch, emu.url).test_connection()
    assert ok, message
    assert message.startswith(f"Connected to ModelRed at {emu.url}: the API key is valid")
    assert emu.counts() == {"GET /api/models": 1}


def test_bad_key(emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    ok, message = make_hook(monkeypatch, emu.url, "mr_not_the_right_key").test_connection()
    assert not ok and "rejected the API key (HTTP 401: Invalid API key)" in message
    assert "mr_not_the_right_key" not in message


def test_plan_limit(emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    ok, message = make_hook(monkeypatch, emu.url, FREE_KEY).test_connection()
    assert not ok and message.startswith("The API key is valid but the plan does not allow this (HTTP 403")


def test_unreachable_host_without_retrying(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ok, message = make_hook(monkeypatch, f"http://127.0.0.1:{port}", max_retries=5).test_connection()
    assert not ok and message.startswith(f"Cannot reach http://127.0.0.1:{port} (host unreachable)")


def test_wrong_base_url_404(emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    ok, message = make_hook(monkeypatch, emu.url + "/modelred").test_connection()
    assert not ok and message.startswith(f"Wrong Base URL? {emu.url}/modelred does not answer like")
    assert "e.g. https://app.modelred.ai" in message


def test_wrong_base_url_that_answers_html(monkeypatch: pytest.MonkeyPatch) -> None:
    page = b"<html><body><h1>Welcome to our website</h1></body></html>"
    with scripted_server(Script(body=page, content_type="text/html")) as origin:
        ok, message = make_hook(monkeypatch, origin, KEY).test_connection()
    assert not ok and message.startswith("Wrong Base URL?") and "not JSON" in message
    assert "Welcome to our website" in message and "<h1>" not in message


def test_server_errors_are_reported_as_such(emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    emu.inject_fault("GET", "/api/models", kind="status", status=503)
    ok, message = make_hook(monkeypatch, emu.url).test_connection()
    assert not ok and "HTTP 503" in message and "Service unavailable" in message
    assert emu.count("GET", "/api/models") == 1
