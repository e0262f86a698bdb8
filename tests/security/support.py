"""What the attack catalogue shares: a hook on a hostile server, and the leak check."""

from __future__ import annotations

from typing import Any

import pytest

from modelred_provider.hooks.modelred import ModelRedHook
from tests.hook.support import set_connection

#: Retries that keep the catalogue quick.
FAST = {"retry_backoff": 0.01, "retry_max_wait": 1, "timeout": 3, "max_retries": 1}


def connect(
    monkeypatch: pytest.MonkeyPatch, host: str, key: str, conn_id: str = "modelred_hostile", **extras: Any
) -> ModelRedHook:
    """A hook on ``AIRFLOW_CONN_<ID>`` (JSON form, as users define it) for ``host``, with the
    catalogue's quicker retries."""
    return ModelRedHook(
        modelred_conn_id=set_connection(monkeypatch, host, key, conn_id, **{**FAST, **extras})
    )


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
