"""Hostile configuration and hostile bytes (issue 9, item 6): every failure of a call is a
``ModelRedError`` with a message a user can act on, and ``test_connection()`` answers ``(False, msg)``
instead of raising."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from modelred_provider.api import errors as e

from .hostile import SECRET, Conn, HostileServer, Request, response
from .support import LeakCheck, connect


def test_a_missing_ca_bundle_is_a_configuration_error_and_test_connection_says_so(
    monkeypatch: pytest.MonkeyPatch, leaks: LeakCheck, tmp_path: Path
) -> None:
    missing = str(tmp_path / "nowhere.pem")
    hook = connect(monkeypatch, "https://127.0.0.1:9", SECRET, ca_bundle=missing)
    with pytest.raises(e.ModelRedConfigurationError, match="is not a readable file") as caught:
        hook.list_models()
    ok, message = connect(monkeypatch, "https://127.0.0.1:9", SECRET, ca_bundle=missing).test_connection()
    assert not ok and "nowhere.pem" in message and "ca_bundle" in message
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", missing)
    ok, message_env = connect(monkeypatch, "https://127.0.0.1:9", SECRET).test_connection()
    assert not ok and "REQUESTS_CA_BUNDLE" in message_env
    leaks.add(caught.value, message, message_env)


@pytest.mark.parametrize(
    ("extra", "value"),
    [("timeout", "inf"), ("timeout", "nan"), ("retry_max_wait", "1e309"), ("max_retries", "1e9")],
)
def test_non_finite_or_huge_extras_are_configuration_errors(
    extra: str, value: str, monkeypatch: pytest.MonkeyPatch, leaks: LeakCheck
) -> None:
    hook = connect(monkeypatch, "https://127.0.0.1:9", SECRET, **{extra: value})
    with pytest.raises(e.ModelRedConfigurationError, match=extra) as caught:
        hook.list_models()
    ok, message = connect(monkeypatch, "https://127.0.0.1:9", SECRET, **{extra: value}).test_connection()
    assert not ok and extra in message
    leaks.add(caught.value, message)


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 abc Nope\r\n\r\n",  # a status line that is not a status
        b"NOT HTTP AT ALL\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n{oops",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",  # a bad chunk size
        b'HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{"data": {',  # cut short
        b"HTTP/1.1 200 OK\r\n" + b"X-Long: " + b"a" * 70000 + b"\r\n\r\n{}",  # a header past every limit
    ],
    ids=["bad-status", "not-http", "negative-length", "bad-chunk", "truncated", "huge-header"],
)
def test_malformed_answers_are_typed_in_both_transports(
    answer: bytes, monkeypatch: pytest.MonkeyPatch, leaks: LeakCheck
) -> None:
    def handle(conn: Conn, request: Request) -> bool:
        conn.send(answer)
        return False

    with HostileServer(handle) as server:
        hook = connect(monkeypatch, server.url, SECRET, max_retries=0)
        with pytest.raises(e.ModelRedError) as caught:
            hook.get_assessment("asm_1")
        ok, message = connect(monkeypatch, server.url, SECRET, max_retries=0).test_connection()
        assert not ok

        async def poll() -> BaseException:
            async with connect(monkeypatch, server.url, SECRET, max_retries=0) as ahook:
                with pytest.raises(e.ModelRedError) as acaught:
                    await ahook.aget_assessment("asm_1")
                return acaught.value

        aerror = asyncio.run(poll())
    leaks.add(caught.value, message, aerror)


def test_a_bad_redirect_port_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, leaks: LeakCheck
) -> None:
    def handle(conn: Conn, request: Request) -> None:
        conn.send(response(302, "", {"Location": "http://127.0.0.1:notaport/api/models"}))

    with HostileServer(handle) as server:
        with pytest.raises(e.ModelRedConfigurationError) as caught:
            connect(monkeypatch, server.url, SECRET).list_models()
        ok, message = connect(monkeypatch, server.url, SECRET).test_connection()
    assert not ok
    leaks.add(caught.value, message)
