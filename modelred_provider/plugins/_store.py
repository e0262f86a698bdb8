"""Reading the summaries our tasks pushed to XCom, from Airflow's metadata database only.

Every query is bounded (``LIMIT``) and restricted to the DAG ids the caller may read. A summary is
plain JSON; :func:`clean_summary` keeps only the fields the pages show, coerced to their types, so
nothing else that might sit in an XCom value (and no string shaped like an API key) reaches a page.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from airflow.models.taskinstance import TaskInstance
from airflow.models.xcom import XComModel
from sqlalchemy import and_, select

if TYPE_CHECKING:
    from sqlalchemy.orm import Session
    from sqlalchemy.sql import Select

#: The XCom key our operator and sensor push their summary under (``XCOM_SUMMARY`` in the provider's
#: completion code). Repeated here on purpose: the plugin depends on the stored data, not on the task code.
SUMMARY_KEY = "assessment_summary"

#: The most summaries one request reads (the history page's page size is at most this).
MAX_LIMIT = 5000
#: Points of a task's trend chart.
TREND_POINTS = 30
#: Entries of the DAG and model filters.
MAX_FACETS = 500

# A ModelRed API key (mr_ and at least 9 more characters): never shown, even if a server echoed one.
_KEY_SHAPE = re.compile(r"mr_[A-Za-z0-9_\-+/=.~]{9,}")
_TEXT_LIMIT = 2000
_LIST_LIMIT = 200


@dataclass(frozen=True)
class Run:
    """One task's summary: where it came from and what it said (cleaned)."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int | None
    when: datetime
    summary: dict[str, Any]

    @property
    def model(self) -> str:
        return str(self.summary.get("model") or "(unknown model)")

    @property
    def score(self) -> float | None:
        return self.summary.get("score")  # clean_summary made it a finite float or None

    @property
    def verdict(self) -> str:
        """``passed``, ``failed`` (the gate's verdict), or the status when no gate ran."""
        gate = self.summary.get("gate")
        if isinstance(gate, dict):
            return "passed" if gate.get("passed") else "failed"
        return str(self.summary.get("status") or "unknown").lower()

    def as_json(self) -> dict[str, Any]:
        return {**vars(self), "when": self.when.isoformat(), "verdict": self.verdict}


def _text(value: Any, limit: int = _TEXT_LIMIT) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    return _KEY_SHAPE.sub("mr_***", str(value))[:limit]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int past float's range (10**400)
        return None
    return number if math.isfinite(number) else None


def _count(value: Any) -> int:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _first(value: Any, kind: type) -> list[Any]:
    """Take the first ``_LIST_LIMIT`` items of a dict or entries of a list; none when not a ``kind``."""
    items = value.items() if isinstance(value, dict) else value
    return list(islice(items, _LIST_LIMIT)) if isinstance(value, kind) else []


def _link(value: Any) -> str | None:
    """Return the assessment's page: http(s) only, without credentials, query or fragment."""
    try:  # none, or not text: no scheme; an unclosed "[" or a port that is no port: not a link
        parts = urlsplit(_text(value) or "")
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    host += f":{port}" if port else ""
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def clean_summary(raw: Any) -> dict[str, Any] | None:
    """Read the fields the pages show, typed; ``None`` when ``raw`` is not a summary."""
    if isinstance(raw, (str, bytes)):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None
    if not isinstance(raw, dict) or "assessment_id" not in raw:
        return None
    totals: dict[str, Any] = raw["totals"] if isinstance(raw.get("totals"), dict) else {}
    gate = raw.get("gate")
    return {
        "assessment_id": _text(raw.get("assessment_id"), 200),
        "url": _link(raw.get("url")),
        "status": _text(raw.get("status"), 40),
        "model": _text(raw.get("model"), 250),
        "score": _number(raw.get("score")),
        "risk_level": _text(raw.get("risk_level"), 40),
        "totals": {k: _count(totals.get(k)) for k in ("tests", "passed", "failed")},
        "pass_rate_by_category": {
            str(_text(k, 200)): _number(v) for k, v in _first(raw.get("pass_rate_by_category"), dict)
        },
        "vulnerabilities_by_severity": {
            str(_text(k, 40)): _count(v) for k, v in _first(raw.get("vulnerabilities_by_severity"), dict)
        },
        "vulnerabilities_unknown": _text(raw.get("vulnerabilities_unknown")),
        "failing_probes": [str(_text(p, 200)) for p in _first(raw.get("failing_probes"), list)],
        "error": _text(raw.get("error")),
        "gate": {
            "passed": gate.get("passed") is True,  # "false", 1 or [0] is not a pass
            "reasons": [str(_text(r)) for r in _first(gate.get("reasons"), list)],
        }
        if isinstance(gate, dict)
        else None,
    }


_model = XComModel.value["model"].as_string()
_TI_KEY = ("dag_id", "run_id", "task_id", "map_index")  # a task instance's columns, in both tables


def _base_query(readable: Collection[str]) -> Select:
    return (
        select(*(getattr(XComModel, c) for c in (*_TI_KEY, "timestamp", "value")), TaskInstance.try_number)
        .outerjoin(TaskInstance, and_(*(getattr(TaskInstance, c) == getattr(XComModel, c) for c in _TI_KEY)))
        .where(XComModel.key == SUMMARY_KEY, XComModel.dag_id.in_(sorted(readable)))
    )


def _runs(session: Session, query: Select) -> list[Run]:
    runs = []
    for dag_id, run_id, task_id, map_index, when, value, try_number in session.execute(query):
        summary = clean_summary(value)
        if summary is not None:
            runs.append(Run(dag_id, run_id, task_id, map_index, try_number, when, summary))
    return runs


def history(
    session: Session,
    readable: Collection[str],
    *,
    dag_id: str | None = None,
    model: str | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> list[Run]:
    """List the newest summaries first, at most ``limit`` from ``offset``, of DAGs in ``readable``."""
    if not readable:
        return []
    query = _base_query(readable)
    if dag_id:
        query = query.where(XComModel.dag_id == dag_id)
    if model:
        query = query.where(_model == model)
    limit = max(1, min(int(limit), MAX_LIMIT))
    query = query.order_by(XComModel.timestamp.desc()).limit(limit).offset(max(0, int(offset)))
    return _runs(session, query)


def facets(session: Session, readable: Collection[str]) -> tuple[list[str], list[str]]:
    """List the DAG ids and models that have summaries (for the filters), at most ``MAX_FACETS`` each."""
    if not readable:
        return [], []
    where = (XComModel.key == SUMMARY_KEY, XComModel.dag_id.in_(sorted(readable)))
    dags = session.scalars(
        select(XComModel.dag_id).where(*where).distinct().order_by(XComModel.dag_id).limit(MAX_FACETS)
    ).all()
    models = session.scalars(
        select(_model).where(*where, _model.is_not(None)).distinct().order_by(_model).limit(MAX_FACETS)
    ).all()
    return [str(d) for d in dags], [m for m in (_text(m, 250) for m in models) if m]


def task_report(
    session: Session, dag_id: str, run_id: str, task_id: str, map_index: int
) -> tuple[Run | None, list[Run]]:
    """Get this task instance's summary and its model's ones of the same task up to it (oldest first)."""
    query = _base_query([dag_id]).where(
        XComModel.run_id == run_id, XComModel.task_id == task_id, XComModel.map_index == map_index
    )
    found = _runs(session, query.limit(1))
    if not found:
        return None, []
    current = found[0]
    trend_query = (
        _base_query([dag_id])
        .where(
            XComModel.task_id == task_id,
            XComModel.timestamp <= current.when,
            _model == current.summary["model"],
        )
        .order_by(XComModel.timestamp.desc())
        .limit(TREND_POINTS)
    )
    trend = _runs(session, trend_query) if current.summary["model"] else [current]
    if not any(r.run_id == run_id and r.map_index == map_index for r in trend):
        trend = [current, *trend[: TREND_POINTS - 1]]
    return current, sorted(trend, key=lambda r: r.when)
