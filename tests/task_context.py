"""A minimal stand-in for the Airflow task context, for calling ``execute`` directly.

Only what cannot run outside a task runner is replaced (XCom pushes, the task state store,
outlet events); the operator, the hook and the emulator are the real ones. The DAG tests
(``tests/dags``) run the same paths inside real Airflow with ``dag.test()``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any


class FakeTI:
    def __init__(self, start_date: datetime | None = None, try_number: int = 1) -> None:
        self.xcom: dict[str, Any] = {}
        self.start_date = start_date or datetime.now(UTC)
        self.try_number = try_number

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


class FakeStateStore:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any, **_: Any) -> None:
        self.data[key] = value

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


def make_context(*, store: FakeStateStore | None = None, ti: FakeTI | None = None) -> dict[str, Any]:
    return {
        "ti": ti or FakeTI(),
        "task_state_store": store if store is not None else FakeStateStore(),
        "outlet_events": defaultdict(lambda: SimpleNamespace(extra={})),
    }
