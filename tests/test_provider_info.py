"""The provider metadata Airflow reads: valid against Airflow's own schema, and the connection form
declares exactly the extras the hook reads, with the hook's defaults."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import airflow
import jsonschema
import pytest
from airflow.sdk import Connection

from modelred_provider.get_provider_info import get_provider_info
from modelred_provider.hooks.connection import CA_ENV_VARS, settings_from_connection

INFO = get_provider_info()
CONN_TYPE = INFO["connection-types"][0]


def test_provider_info_is_valid_against_airflows_schema() -> None:
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(INFO, schema)


def test_package_name_is_the_distribution_name_and_the_entry_point_is_registered() -> None:
    dist = metadata.distribution(INFO["package-name"])
    entry_points = [ep for ep in dist.entry_points if ep.group == "apache_airflow_provider"]
    assert [ep.value for ep in entry_points] == ["modelred_provider.get_provider_info:get_provider_info"]
    assert INFO["versions"][0] == dist.version


def test_form_defaults_are_the_hooks_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without a ca_bundle extra the hook takes one from the environment (hooks/connection.py
    # resolve_ca_bundle); the form's default is what it reads with none set.
    for name in CA_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    conn = Connection(conn_id="x", conn_type="modelred", host="http://127.0.0.1:1", password="mr_" + "a" * 20)
    settings = settings_from_connection(conn, mask=False)
    fields = CONN_TYPE["conn-fields"]
    read_by_hook = {
        "organization_id": settings.organization_id,
        "timeout": settings.timeout,
        "max_retries": settings.retry.max_retries,
        "retry_max_seconds": settings.retry.max_total,
        "verify_ssl": settings.verify_ssl,
        "ca_bundle": settings.ca_bundle,
        "dashboard_url": settings.dashboard_url,
    }
    assert set(fields) == set(read_by_hook)
    for name, value in read_by_hook.items():
        assert fields[name]["schema"].get("default") == value, name
        # Optional in the UI: a null type keeps the form from marking the field required.
        assert "null" in fields[name]["schema"]["type"], name


def test_form_extras_set_through_the_connection_reach_the_hook() -> None:
    extra = {
        "organization_id": "org_globex",
        "timeout": 7,
        "max_retries": 5,
        "retry_max_seconds": 9,
        "verify_ssl": False,
        "dashboard_url": "https://dash.example.com/",
    }
    conn = Connection(
        conn_id="x",
        conn_type="modelred",
        host="https://api.example.com",
        password="mr_" + "b" * 20,
        extra=json.dumps(extra),
    )
    settings = settings_from_connection(conn, mask=False)
    assert (settings.organization_id, settings.timeout, settings.retry.max_retries) == ("org_globex", 7, 5)
    assert (settings.retry.max_total, settings.verify_ssl) == (9, False)
    assert settings.dashboard == "https://dash.example.com"


def test_ui_relabels_host_and_password_and_hides_the_rest() -> None:
    behaviour = CONN_TYPE["ui-field-behaviour"]
    assert behaviour["relabeling"] == {"host": "Base URL", "password": "API Key"}
    assert set(behaviour["hidden-fields"]) == {"schema", "port", "login", "extra"}
    assert behaviour["placeholders"]["password"] == "mr_..."
