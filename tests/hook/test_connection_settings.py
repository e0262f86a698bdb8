"""Connection -> settings, as users define it: AIRFLOW_CONN_* in JSON and in URI form (string extras)."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from modelred_provider.api import errors as e
from modelred_provider.hooks.modelred import ModelRedHook
from modelred_provider.testing.emulator import ModelRedEmulator

from .support import KEY


def _uri(monkeypatch: pytest.MonkeyPatch, uri: str, conn_id: str = "modelred_uri") -> ModelRedHook:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", uri)
    return ModelRedHook(conn_id)


def test_uri_form_against_the_emulator_casts_string_extras(
    emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = (
        f"modelred://http://:{quote(KEY)}@127.0.0.1:{emu.port}/"
        "?timeout=4.5&max_retries=1&retry_backoff=0.01&verify_ssl=true&organization_id=org_acme"
        "&dashboard_url=https%3A%2F%2Fdash.example.com%2Fteam%2F"
    )
    hook = _uri(monkeypatch, uri)
    settings = hook.settings
    assert settings.origin == emu.url
    assert settings.timeout == 4.5 and settings.retry.max_retries == 1 and settings.retry.backoff == 0.01
    assert settings.verify_ssl is True and settings.organization_id == "org_acme"
    assert hook.assessment_url("asm_1") == "https://dash.example.com/team/assessments/asm_1"
    assert hook.list_models()
    emu.inject_fault("GET", "/api/models", kind="status", status=503, count=2)
    with pytest.raises(e.ModelRedServerError):
        hook.list_models()
    assert emu.count("GET", "/api/models") == 1 + 2  # max_retries=1 from a string


def test_uri_form_with_a_bare_loopback_host_and_port(emu: ModelRedEmulator, monkeypatch) -> None:
    hook = _uri(monkeypatch, f"modelred://:{KEY}@127.0.0.1:{emu.port}")
    assert hook.settings.origin == emu.url and hook.list_models()
    assert hook.settings.timeout == 30 and hook.settings.retry.max_retries == 3 and hook.settings.verify_ssl


def test_uri_form_remote_host_defaults_to_https(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = _uri(monkeypatch, f"modelred://:{KEY}@app.modelred.ai/api?verify_ssl=0")
    assert hook.settings.origin == "https://app.modelred.ai" and hook.settings.verify is False
    assert hook.assessment_url("a b") == "https://app.modelred.ai/assessments/a%20b"


def test_json_form_keeps_types(emu: ModelRedEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {
        "conn_type": "modelred",
        "host": emu.url + "/api",
        "password": f"  {KEY} ",
        "extra": {"timeout": 3, "max_retries": 0, "verify_ssl": False, "ca_bundle": ""},
    }
    monkeypatch.setenv("AIRFLOW_CONN_MODELRED_JSON", json.dumps(conn))
    hook = ModelRedHook(modelred_conn_id="modelred_json")
    assert hook.settings.origin == emu.url and hook.settings.api_key == KEY
    assert hook.settings.retry.max_retries == 0 and hook.settings.ca_bundle is None
    assert hook.list_models()


@pytest.mark.parametrize("extra", ["timeout", "max_retries", "retry_backoff", "max_response_mb"])
def test_a_json_number_past_floats_range_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, extra: str
) -> None:
    conn = {
        "conn_type": "modelred",
        "host": "https://app.modelred.ai",
        "password": KEY,
        "extra": {extra: 10**400},
    }
    monkeypatch.setenv("AIRFLOW_CONN_MODELRED_HUGE", json.dumps(conn))
    hook = ModelRedHook(modelred_conn_id="modelred_huge")
    with pytest.raises(e.ModelRedConfigurationError, match=f"connection extra '{extra}' must be a"):
        hook.settings  # noqa: B018
    ok, message = hook.test_connection()
    assert not ok and f"connection extra '{extra}' must be a" in message


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("timeout=abc", "connection extra 'timeout' must be a number, got 'abc'"),
        ("timeout=0", "'timeout' must be more than 0 seconds"),
        ("max_retries=2.5", "connection extra 'max_retries' must be a whole number, got '2.5'"),
        ("max_retries=-1", "'max_retries' must be at least 0"),
        ("retry_backoff=fast", "'retry_backoff' must be a number"),
        ("verify_ssl=maybe", "connection extra 'verify_ssl' must be true or false, got 'maybe'"),
        ("dashboard_url=ftp%3A%2F%2Fx", "'dashboard_url' is not a URL"),
    ],
)
def test_bad_extras_fail_clearly_before_any_request(
    monkeypatch: pytest.MonkeyPatch, query: str, needle: str
) -> None:
    hook = _uri(monkeypatch, f"modelred://:{KEY}@app.modelred.ai/?{query}")
    with pytest.raises(e.ModelRedConfigurationError) as caught:
        hook.list_models()
    assert needle in str(caught.value)
    ok, message = hook.test_connection()
    assert not ok and needle in message


def test_missing_or_malformed_key(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(e.ModelRedConfigurationError, match="no API key"):
        _uri(monkeypatch, "modelred://app.modelred.ai").settings  # noqa: B018
    hook = _uri(monkeypatch, "modelred://:sk-abcdefghijklmnop@app.modelred.ai")
    ok, message = hook.test_connection()
    assert not ok and "does not look like a ModelRed key" in message and "sk-abc" not in message


def test_an_unknown_connection_id_is_reported_by_test_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    ok, message = ModelRedHook("modelred_missing_conn").test_connection()
    assert not ok and "modelred_missing_conn" in message


def test_hook_metadata_matches_provider_info() -> None:
    from modelred_provider.get_provider_info import get_provider_info

    (conn_type,) = get_provider_info()["connection-types"]
    assert conn_type["hook-class-name"] == f"{ModelRedHook.__module__}.{ModelRedHook.__name__}"
    assert conn_type["connection-type"] == ModelRedHook.conn_type == "modelred"
    assert conn_type["hook-name"] == ModelRedHook.hook_name == "ModelRed"
    assert ModelRedHook.default_conn_name == "modelred_default"
    assert ModelRedHook.conn_name_attr == "modelred_conn_id"
    read_by_hook = {
        "organization_id",
        "timeout",
        "max_retries",
        "verify_ssl",
        "ca_bundle",
        "dashboard_url",
    }
    assert read_by_hook <= set(conn_type["conn-fields"])
