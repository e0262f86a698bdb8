"""What the hook tests share: test keys, quick-retry connection settings, hooks on a connection."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelred_provider.hooks.modelred import ModelRedHook

KEY = "mr_test_key_0001"


FREE_KEY = "mr_free_tier_key_01"


ORG_KEY = "mr_globex_key_0001"


#: Retry settings that keep the suite quick (the defaults wait 0.5 s, 1 s, 2 s ...).
FAST = {"retry_backoff": 0.01, "retry_max_wait": 3, "timeout": 5, "max_retries": 3}


def set_connection(
    monkeypatch: pytest.MonkeyPatch,
    host: str,
    key: str = KEY,
    conn_id: str = "modelred_default",
    **extras: Any,
) -> str:
    """Define the connection the Airflow way users do: ``AIRFLOW_CONN_<ID>`` in JSON form."""
    conn = {"conn_type": "modelred", "host": host, "password": key, "extra": {**FAST, **extras}}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn_id


def make_hook(monkeypatch: pytest.MonkeyPatch, host: str, key: str = KEY, **extras: Any) -> ModelRedHook:
    return ModelRedHook(modelred_conn_id=set_connection(monkeypatch, host, key, "modelred_test", **extras))


def acme_pack() -> str:
    """A probe pack owned by org_acme, the organization of gpt-4o-prod and claude-safe (seed data)."""
    from modelred_provider.testing.catalogue import ORG_ACME, seed_packs

    return next(p["id"] for p in seed_packs() if p["organizationId"] == ORG_ACME)
