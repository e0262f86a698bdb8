"""Fixtures of the attack catalogue: a connection to a hostile server, and a leak check on every test.

Every test of this folder that uses ``leaks`` ends with a grep for the API key (whole, and its secret
part) in everything the test saw: log records at every level, stdout/stderr, and each string the
test adds with ``leaks.add(...)`` (error messages, reprs, test_connection's message, summaries).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from modelred_provider.hooks.modelred import ModelRedHook

from .hostile import SECRET_FORMS

#: Retries that keep the catalogue quick.
FAST = {"retry_backoff": 0.01, "retry_max_wait": 1, "timeout": 3, "max_retries": 1}


def connect(
    monkeypatch: pytest.MonkeyPatch, host: str, key: str, conn_id: str = "modelred_hostile", **extras: Any
) -> ModelRedHook:
    """A hook on ``AIRFLOW_CONN_<ID>`` (JSON form, as users define it) for ``host``."""
    conn = {"conn_type": "modelred", "host": host, "password": key, "extra": {**FAST, **extras}}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return ModelRedHook(modelred_conn_id=conn_id)


class LeakCheck:
    def __init__(self, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
        self.texts: list[str] = []
        self._caplog = caplog
        self._capsys = capsys

    def output(self) -> str:
        """Everything logged or printed so far (Airflow's task loggers print through structlog);
        kept for the final leak check too."""
        captured = self._capsys.readouterr()
        self.texts += [captured.out, captured.err]
        return "\n".join([*self.texts, self._caplog.text])

    def add(self, *values: Any) -> None:
        for value in values:
            if isinstance(value, BaseException):
                self.texts += [str(value), repr(value), repr(value.__dict__)]
            else:
                self.texts.append(value if isinstance(value, str) else repr(value))


@pytest.fixture
def leaks(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> Iterator[LeakCheck]:
    caplog.set_level(logging.DEBUG)
    check = LeakCheck(caplog, capsys)
    yield check
    everything = check.output()
    for form in SECRET_FORMS:
        assert form not in everything, f"the API key leaked: {form[:6]}... found"
