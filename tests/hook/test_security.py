"""The API key stays in the auth headers: never in a log line, an exception, a repr, a URL or a redirect
to another host; plain http only to loopback; TLS verified by default."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from modelred_provider.api import errors as e
from modelred_provider.api.vocabulary import ApiGeneration
from modelred_provider.hooks.connection import check_api_key, normalize_origin
from modelred_provider.testing.emulator import ModelRedEmulator

from .servers import Script, scripted_server, self_signed
from .support import make_hook

SECRET = "mr_s3cr3t_kEy_9f8e7d6c"
WRONG = "mr_wr0ng_kEy_1a2b3c4d5e"
MODELS_JSON = json.dumps({"data": [{"id": "m1", "modelId": "x"}], "total": 1, "totalPages": 1}).encode()


def test_the_key_never_appears_in_logs_errors_or_reprs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)  # urllib3, aiohttp, tenacity and ours, at every level
    texts: list[str] = []
    with ModelRedEmulator(api_keys=(SECRET,), assessment_seconds=0.2) as emu:
        hook = make_hook(monkeypatch, emu.url, SECRET)
        texts += [repr(hook), repr(hook.settings), str(hook.settings.__dict__.get("retry"))]
        created = hook.create_assessment("gpt-4o-prod", test_types=["reverse_psychology"])
        texts += [repr(created), hook.test_connection()[1]]
        emu.inject_fault("GET", "/api/models", kind="status", status=503, count=4)
        emu.inject_fault("POST", "/api/assessments", kind="process_then_504")
        hook.create_assessment("gpt-4o-prod", test_types=["reverse_psychology"])
        failures = [
            lambda: hook.list_models(),
            lambda: hook.get_assessment("asm_missing"),
            lambda: hook.cancel_assessment(created.id, api_generation=ApiGeneration.V2),
            lambda: make_hook(monkeypatch, emu.url, WRONG).list_models(),
            lambda: make_hook(monkeypatch, emu.url, "sk-" + SECRET).list_models(),
            lambda: make_hook(monkeypatch, emu.url.replace("127.0.0.1", "example.com"), SECRET).list_models(),
        ]
        for failing in failures:
            with pytest.raises(e.ModelRedError) as caught:
                failing()
            texts += [str(caught.value), repr(caught.value), repr(caught.value.__dict__)]
        texts.append(make_hook(monkeypatch, emu.url, WRONG).test_connection()[1])

        async def poll() -> None:
            async with make_hook(monkeypatch, emu.url, SECRET) as ahook:
                emu.inject_fault("GET", f"/api/assessments/{created.id}", kind="status", status=502)
                texts.append(repr(await ahook.aget_assessment(created.id)))
                with pytest.raises(e.ModelRedError) as caught:
                    await ahook.acancel_assessment(created.id, api_generation=ApiGeneration.V2)
                texts.append(str(caught.value))

        asyncio.run(poll())
    captured = capsys.readouterr()
    texts += [captured.out, captured.err, caplog.text]
    everything = "\n".join(texts)
    assert "attempt 1 of 4 failed" in everything and "HTTP 401" in everything  # we did capture logs
    for key in (SECRET, WRONG, SECRET[3:], WRONG[3:]):
        assert key not in everything


def test_a_key_from_anywhere_is_registered_with_the_secrets_masker() -> None:
    """Airflow masks passwords it fetches itself; a Connection built in code is masked by the hook."""
    from airflow.sdk import Connection
    from airflow.sdk.log import _secrets_masker

    from modelred_provider.hooks.connection import amask_key, settings_from_connection

    key = "mr_built_in_code_31337"
    conn = Connection(conn_id="adhoc", conn_type="modelred", host="https://app.modelred.ai", password=key)
    assert _secrets_masker().redact(f"k={key}") == f"k={key}"  # not masked yet
    settings_from_connection(conn)
    assert _secrets_masker().redact(f"k={key}") == "k=***"
    async_key = "mr_async_masked_9999"
    asyncio.run(amask_key(async_key))
    assert _secrets_masker().redact(async_key) == "***"


def test_key_shape_errors_show_at_most_a_redacted_form() -> None:
    for bad, shown in (
        ("mr_short", "mr_…(redacted)"),
        ("sk-live-abcdefghijklmnop", "does not start with mr_"),
    ):
        with pytest.raises(e.ModelRedConfigurationError) as caught:
            check_api_key(bad)
        assert shown in str(caught.value) and bad not in str(caught.value)
        assert "expected mr_ followed by at least 9 characters" in str(caught.value)
    with pytest.raises(e.ModelRedConfigurationError, match="no API key"):
        check_api_key("  ")
    assert check_api_key("  mr_0123456789  ") == "mr_0123456789"


def test_plain_http_is_refused_except_to_loopback() -> None:
    for host in ("http://app.modelred.ai", "http://10.0.0.8:8080", "http://127.example.com"):
        with pytest.raises(e.ModelRedConfigurationError, match="refusing plain http://") as caught:
            normalize_origin(host)
        assert "only to loopback" in str(caught.value)
    assert normalize_origin("http://127.0.0.5:9/") == "http://127.0.0.5:9"
    assert normalize_origin("http://localhost:8080/api") == "http://localhost:8080"
    assert normalize_origin("http://[::1]:8080") == "http://[::1]:8080"
    assert normalize_origin("127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert normalize_origin("app.modelred.ai") == "https://app.modelred.ai"
    assert normalize_origin("https://app.modelred.ai/api/") == "https://app.modelred.ai"
    assert normalize_origin(None) == normalize_origin("") == "https://app.modelred.ai"
    for bad, needle in (
        ("ftp://x.org", "must start with https://"),
        ("https://user:pw@x.org", "must not contain credentials"),
        ("https://x.org/?a=1", "must not contain a query"),
        ("https://x.org:99999", "invalid port"),
    ):
        with pytest.raises(e.ModelRedConfigurationError, match=needle):
            normalize_origin(bad)


def test_http_refusal_happens_before_any_request(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = make_hook(monkeypatch, "http://app.modelred.ai")
    with pytest.raises(e.ModelRedConfigurationError, match="the API key would travel unencrypted"):
        hook.list_models()
    ok, message = hook.test_connection()
    assert not ok and "refusing plain http://" in message


def test_a_redirect_to_another_host_never_carries_the_key(
    emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = emu.url.replace("127.0.0.1", "localhost")  # another origin, same emulator
    script = Script(status=302, body=b"", headers={"Location": f"{elsewhere}/api/models?page=1"})
    with scripted_server(script) as front:
        hook = make_hook(monkeypatch, front, SECRET)
        with pytest.raises(e.ModelRedConfigurationError, match="redirected to another origin") as caught:
            hook.list_models()
        assert "http://localhost" in str(caught.value)

        async def poll() -> None:
            async with make_hook(monkeypatch, front, SECRET) as ahook:
                with pytest.raises(e.ModelRedConfigurationError, match="redirected to another origin"):
                    await ahook.aget_assessment("asm_1")

        asyncio.run(poll())
    assert emu.counts() == {}  # the other host never saw a request, so never the key
    assert len(script.received) == 2


def test_same_origin_redirects_are_followed_for_reads_only(monkeypatch: pytest.MonkeyPatch) -> None:
    script = Script(
        routes={
            "/api/models": (307, b"", {"Location": "/v1/api/models?page=1&pageSize=50"}),
            "/v1/api/models": (200, MODELS_JSON, {}),
            "/api/assessments": (308, b"", {"Location": "/v1/api/assessments"}),
        }
    )
    with scripted_server(script) as origin:
        hook = make_hook(monkeypatch, origin, SECRET)
        assert [m.id for m in hook.list_models()] == ["m1"]
        assert [r["path"].split("?")[0] for r in script.received] == ["/api/models", "/v1/api/models"]
        assert all(r["authorization"] == f"Bearer {SECRET}" for r in script.received)
        with pytest.raises(e.ModelRedConfigurationError, match="it is not re-sent"):
            hook.create_assessment("m1", test_types=["p"])
        assert [r["method"] for r in script.received].count("POST") == 1


def test_headers_carry_the_key_and_nothing_else_does(monkeypatch: pytest.MonkeyPatch) -> None:
    script = Script(body=MODELS_JSON)
    with scripted_server(script) as origin:
        hook = make_hook(monkeypatch, origin, SECRET, organization_id="org_acme")
        hook.list_models()
        hook.list_probe_packs()
    resources, v2 = script.received
    assert resources["authorization"] == v2["authorization"] == f"Bearer {SECRET}"
    assert resources["x-organization-id"] == "org_acme" and "x-api-key" not in resources
    assert v2["x-api-key"] == SECRET and "x-organization-id" not in v2
    assert resources["user-agent"].startswith("airflow-provider-modelred/")
    assert all(SECRET not in r["path"] for r in script.received)


def test_tls_is_verified_by_default_and_a_ca_bundle_makes_it_pass(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    context, cert = self_signed(tmp_path)
    script = Script(body=MODELS_JSON)
    with scripted_server(script, tls=context) as origin:
        assert origin.startswith("https://")
        hook = make_hook(monkeypatch, origin, SECRET, max_retries=3)
        with pytest.raises(
            e.ModelRedTransportError, match=r"TLS failure talking to https://127\.0\.0\.1"
        ) as err:
            hook.list_models()
        assert "ca_bundle" in str(err.value) and not err.value.retryable and err.value.kind == "tls"
        ok, message = hook.test_connection()
        assert not ok and message.startswith("TLS verification failed for https://127.0.0.1")

        async def poll() -> None:
            async with make_hook(monkeypatch, origin, SECRET) as ahook:
                with pytest.raises(e.ModelRedTransportError) as aerr:
                    await ahook.aget_assessment("asm_1")
                assert aerr.value.kind == "tls"

        asyncio.run(poll())
        assert make_hook(monkeypatch, origin, SECRET, ca_bundle=str(cert)).list_models()
        from urllib3.exceptions import InsecureRequestWarning

        with pytest.warns(InsecureRequestWarning):
            assert make_hook(monkeypatch, origin, SECRET, verify_ssl="false").list_models()

        async def poll_trusted() -> None:
            async with make_hook(monkeypatch, origin, SECRET, ca_bundle=str(cert)) as ahook:
                with pytest.raises(e.ModelRedResponseError, match="expected an assessment as a JSON object"):
                    await ahook.aget_assessment("asm_1")  # TLS passed; the scripted body is no assessment

        asyncio.run(poll_trusted())
    assert len(script.received) == 3


def test_a_netrc_entry_never_replaces_the_key_and_loopback_is_never_proxied(
    emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """requests and aiohttp consult ~/.netrc when no auth is set: requests then sent the netrc login
    instead of the key (a misleading 401), aiohttp raised a bare ValueError. A loopback origin (the
    emulator) is never sent through a proxy from the environment, in both transports (proxies for
    real origins: tests/security/test_environment.py)."""
    netrc = tmp_path / "netrc"
    netrc.write_text(
        "machine 127.0.0.1 login someone password hunter2\nmachine localhost login a password b\n"
    )
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("http_proxy", "HTTP_PROXY", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    direct = make_hook(monkeypatch, emu.url)
    created = direct.create_assessment("gpt-4o-prod", test_types=["reverse_psychology"])
    assert direct.settings.proxy is None

    async def poll(ahook_host: str) -> str:
        async with make_hook(monkeypatch, ahook_host) as ahook:
            return (await ahook.aget_assessment(created.id)).id

    assert asyncio.run(poll(emu.url)) == created.id
    assert emu.count("GET", "/api/assessments/{id}") == 1
