"""One environment rule for both transports (issue 9, item 9): the CA bundle and the proxy are read
by ``hooks/connection.py`` (``resolve_ca_bundle``, ``resolve_proxy``), so ``airflow connections test``
(sync) and the triggerer (async) trust the same certificates and go through the same proxy."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from modelred_provider.api import errors as e

from .hostile import (
    MODELS,
    SECRET,
    Conn,
    ConnectProxy,
    HostileServer,
    Request,
    assessment,
    certificate,
    json_answer,
)
from .support import LeakCheck, connect

_ENV = (
    "REQUESTS_CA_BUNDLE",
    "SSL_CERT_FILE",
    "CURL_CA_BUNDLE",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "HTTP_PROXY",
    "http_proxy",
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)


def _handle(conn: Conn, request: Request) -> None:
    conn.send(json_answer(assessment(status="COMPLETED") if "assessments" in request.path else MODELS))


def _failure(err: Exception) -> object:
    """A transport failure's kind (\"tls\", \"connect\", ...), else the error's type."""
    return err.kind if isinstance(err, e.ModelRedTransportError) else type(err)


def _outcomes(monkeypatch: pytest.MonkeyPatch, origin: str, **extras: object) -> tuple[object, object]:
    """What the sync list and the async GET each gave: a value, or the error's type."""
    hook = connect(monkeypatch, origin, SECRET, max_retries=0, **extras)
    try:
        sync: object = [m.model_id for m in hook.list_models()]
    except e.ModelRedError as err:
        sync = _failure(err)

    async def poll() -> object:
        async with connect(monkeypatch, origin, SECRET, max_retries=0, **extras) as ahook:
            try:
                return (await ahook.aget_assessment("asm_1")).status.value
            except e.ModelRedError as err:
                return _failure(err)

    return sync, asyncio.run(poll())


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"])
def test_a_ca_bundle_from_the_environment_is_trusted_by_both_transports(
    variable: str, monkeypatch: pytest.MonkeyPatch, leaks: LeakCheck, tmp_path: Path
) -> None:
    """Before: REQUESTS_CA_BUNDLE reached only requests, SSL_CERT_FILE only aiohttp."""
    tls, cert = certificate(tmp_path)
    with HostileServer(_handle, tls) as server:
        assert _outcomes(monkeypatch, server.url) == ("tls", "tls")
        monkeypatch.setenv(variable, str(cert))
        assert _outcomes(monkeypatch, server.url) == (["gpt-4o-prod"], "COMPLETED")


def test_the_connection_ca_bundle_wins_over_the_environment(
    monkeypatch: pytest.MonkeyPatch, leaks: LeakCheck, tmp_path: Path
) -> None:
    tls, cert = certificate(tmp_path)
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    _, other = certificate(other_dir)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other))
    with HostileServer(_handle, tls) as server:
        assert _outcomes(monkeypatch, server.url) == ("tls", "tls")
        assert _outcomes(monkeypatch, server.url, ca_bundle=str(cert)) == (["gpt-4o-prod"], "COMPLETED")


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"])
def test_a_proxy_from_the_environment_carries_both_transports(
    variable: str, monkeypatch: pytest.MonkeyPatch, leaks: LeakCheck, tmp_path: Path
) -> None:
    """``modelred.test`` resolves nowhere: only the proxy (which tunnels to loopback) reaches it.
    Before: ALL_PROXY reached only requests. NO_PROXY then sends both direct (and both fail alike)."""
    tls, cert = certificate(tmp_path, ("modelred.test",))
    with HostileServer(_handle, tls) as server, ConnectProxy() as proxy:
        origin = f"https://modelred.test:{server.port}"
        monkeypatch.setenv(variable, proxy.url)
        assert _outcomes(monkeypatch, origin, ca_bundle=str(cert)) == (["gpt-4o-prod"], "COMPLETED")
        assert proxy.tunnels == [f"modelred.test:{server.port}"] * 2
        monkeypatch.setenv("NO_PROXY", "modelred.test")
        assert _outcomes(monkeypatch, origin, ca_bundle=str(cert)) == (
            "connect",
            "connect",
        )
    assert len(proxy.tunnels) == 2


def test_a_loopback_origin_is_never_proxied(monkeypatch: pytest.MonkeyPatch, leaks: LeakCheck) -> None:
    """The emulator on loopback with a corporate proxy in the environment: both go direct."""
    with HostileServer(_handle) as server, ConnectProxy() as proxy:
        for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"):
            monkeypatch.setenv(name, proxy.url)
        assert _outcomes(monkeypatch, server.url) == (["gpt-4o-prod"], "COMPLETED")
    assert proxy.tunnels == [] and len(server.requests) == 2
